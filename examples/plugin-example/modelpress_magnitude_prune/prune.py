"""MagnitudePrune: zero the smallest-magnitude weights of every Linear layer."""
from modelpress.components import Pass
from modelpress.errors import UserError


class MagnitudePrune(Pass):
    """Zero the smallest-magnitude fraction ``sparsity`` of each Linear weight (HfModel -> HfModel)."""

    name = "MagnitudePrune"
    schema = "modelpress_magnitude_prune:schemas/MagnitudePrune.json"
    accepts = ("HfModel",)
    libraries = ("torch", "transformers")  # their versions enter the cache key
    requires = {"torch": "pip install 'modelpress[finetune]'", "transformers": "pip install 'modelpress[finetune]'"}

    def run(self, model, output_dir):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        cfg = model.config
        if model.name != "HfModel" or cfg.get("adapter_path") or cfg.get("quantization") or cfg.get("gguf_file"):
            raise UserError("MagnitudePrune: the input must be a plain HfModel folder (no adapter, 4-bit or "
                            "GGUF weights); put a MergeAdapterWeights pass before it")
        kwargs = dict(cfg.get("load_kwargs") or {})
        hf = AutoModelForCausalLM.from_pretrained(cfg["model_path"], **kwargs)
        with torch.no_grad():
            for name, layer in hf.named_modules():
                if isinstance(layer, torch.nn.Linear) and name.rsplit(".", 1)[-1] not in self.config.skip_modules:
                    flat = layer.weight.view(-1)
                    k = int(flat.numel() * self.config.sparsity)  # how many weights to zero
                    flat[flat.abs().topk(k, largest=False).indices] = 0.0
        hf.save_pretrained(output_dir)
        tok_kwargs = {k: v for k, v in kwargs.items() if k in ("trust_remote_code", "revision")}
        AutoTokenizer.from_pretrained(cfg["model_path"], **tok_kwargs).save_pretrained(output_dir)
        return model.replace(model_path=str(output_dir))
