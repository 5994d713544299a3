"""HuggingfaceContainer: load a dataset with ``datasets`` and format its rows.

Both Olive forms of the config arrive here flat and renamed by the
migration layer (``corpus_strategy`` -> ``strategy``, ``source_max_len`` ->
``max_seq_len``). Tokenization and packing live in :mod:`.packing`.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelpress.components import DataContainer
from modelpress.errors import UserError

from .data_checks import check_rows, config_problems, file_list, template_fields  # noqa: F401 (importable here too)

BUILDERS = ("json", "csv", "parquet", "text", "arrow", "webdataset", "imagefolder", "audiofolder")
WHERE = "data_configs"


class HuggingfaceContainer(DataContainer):
    """Rows from ``datasets.load_dataset``, formatted by a template or chat template."""

    name = "HuggingfaceContainer"
    schema = "modelpress.plugins.huggingface:schemas/HuggingfaceContainer.json"
    requires = {"datasets": "pip install 'modelpress[finetune]'"}

    def __init__(self, config, context):
        super().__init__(config, context)
        self._rows: list[dict] | None = None
        self.load_cfg = config["load_dataset_config"]
        self.pre = config.get("pre_process_data_config") or {}

    @classmethod
    def check_inputs(cls, config: Mapping[str, Any]) -> list[str]:
        """Problems found at validate time: the template's syntax, empty or broken JSON data files,
        and rows without a value for a column the config uses (see :mod:`.data_checks`)."""
        return config_problems(config)

    # -- loading ---------------------------------------------------------------

    def files(self) -> list[Path]:
        """The local data files (and a local data_name path)."""
        names = file_list(self.load_cfg.get("data_files"))
        names.append(self.load_cfg["data_name"])
        found = []
        for name in names:
            p = Path(name)
            if p.is_file():
                found.append(p)
            elif p.is_dir() and name != "":
                found.extend(sorted(f for f in p.rglob("*") if f.is_file()))
        return found

    def _load(self):
        import datasets

        cfg = self.load_cfg
        data_files = cfg.get("data_files")
        if isinstance(data_files, Mapping) and "type" in data_files:
            raise UserError(f"{WHERE}.load_dataset_config.data_files: the {data_files['type']} resource was not "
                            f"downloaded; run the workflow with modelpress or give local files")
        for f in file_list(data_files):
            if not any(c in f for c in "*?[") and "://" not in f and not Path(f).exists():
                raise UserError(f"{WHERE}.load_dataset_config.data_files: '{f}' does not exist; "
                                f"relative paths resolve against the config file's folder")
        name = cfg["data_name"]
        kwargs = {k: v for k, v in (("data_files", data_files), ("data_dir", cfg.get("data_dir"))) if v}
        if isinstance(kwargs.get("data_files"), Mapping):
            kwargs["data_files"] = dict(kwargs["data_files"])
        split = cfg.get("split") or "train"
        local = name in BUILDERS or Path(name).exists()
        if not local:
            from .loading import _hub_reachable

            if not _hub_reachable():
                raise UserError(f"{WHERE}.load_dataset_config.data_name: '{name}' is not a local file or a "
                                f"builder ({', '.join(BUILDERS[:4])}) and the Hugging Face hub is unreachable; "
                                f"give data_name 'json' with local data_files, or connect and set HF_HUB_OFFLINE=0")
        try:
            ds = datasets.load_dataset(name, cfg.get("subset"), split=split, **kwargs)
        except ValueError as exc:
            if "corresponds to no data" in str(exc):
                raise self._empty() from exc
            if "split" in str(exc).lower():
                raise UserError(f"{WHERE}.load_dataset_config.split: {exc}; use a split the data has, "
                                f"e.g. 'train' or 'train[:70%]'") from exc
            raise
        return ds

    def rows(self) -> list[dict]:
        """The split's rows as dicts (loaded once); an empty split is an error."""
        if self._rows is None:
            ds = self._load()
            if len(ds) == 0:
                raise self._empty()
            rows = ds.to_list()
            check_rows(rows, list(ds.column_names), self.pre, self.load_cfg.get("split") or "train")
            self._rows = rows
        return self._rows

    def _empty(self) -> UserError:
        return UserError(f"{WHERE}.load_dataset_config.split: split '{self.load_cfg.get('split') or 'train'}' "
                         f"of '{self.load_cfg['data_name']}' has no rows; check the slice and the data files")

    # -- formatting ------------------------------------------------------------

    def format(self, row: Mapping[str, Any], tokenizer: Any = None) -> str:
        """The text of one row: chat template, text template, text_cols, or 'text'."""
        pre = self.pre
        if pre.get("message_col"):
            messages = [dict(m) for m in row[pre["message_col"]]]
            if pre.get("chat_template"):
                import jinja2

                env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
                eos = getattr(tokenizer, "eos_token", "") or ""
                bos = getattr(tokenizer, "bos_token", "") or ""
                return env.from_string(pre["chat_template"]).render(
                    messages=messages, add_generation_prompt=False, eos_token=eos, bos_token=bos)
            if tokenizer is None or not getattr(tokenizer, "chat_template", None):
                raise UserError(f"{WHERE}.pre_process_data_config.chat_template: the tokenizer has no chat "
                                f"template; set chat_template to a Jinja template")
            return tokenizer.apply_chat_template(messages, tokenize=False)
        if pre.get("text_template"):
            return pre["text_template"].format_map({k: "" if v is None else v for k, v in row.items()})
        cols = pre.get("text_cols")
        cols = [cols] if isinstance(cols, str) else list(cols or ["text"])
        return " ".join(str(row[c]) for c in cols)

    def texts(self, tokenizer: Any = None) -> list[str]:
        """Every row formatted."""
        return [self.format(r, tokenizer) for r in self.rows()]

    def token_blocks(self, tokenizer: Any) -> list[dict]:
        """Training examples by the configured strategy (see :mod:`.packing`)."""
        from .packing import make_blocks

        return make_blocks(self.texts(tokenizer), tokenizer, self.pre)
