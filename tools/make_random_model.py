#!/usr/bin/env python3
"""Writes tiny random-weight models in the layouts of real Hugging Face checkpoints.

For each architecture below the script builds a model with transformers, gives it weights large
enough that attention is peaked and the logits spread out, and saves it twice:

  tests/fixtures/models/<name>/            a Hugging Face directory as users download one:
                                           config.json (classic layout: rope_theta and
                                           rope_scaling at the top level), model.safetensors,
                                           tokenizer.json, tokenizer_config.json and
                                           generation_config.json
  tests/fixtures/models/<name>.gguf        the same weights as llama.cpp's converter writes them
                                           (Llama's Q and K rows permuted, Llama 3 rope scaling
                                           as a rope_freqs tensor, vocabulary padded to the
                                           embedding size)

and records in tests/fixtures/hf_random_models.json, per model, the token ids that the
`tokenizers` library gives for a few texts, the float32 logits that transformers computes for
some of them (every vocabulary entry at the last position, and a short greedy continuation),
and the ids of a chat prompt from apply_chat_template with the model's template.

The tokenizers are byte-level BPE models trained on a small English corpus, with the
pre-tokenizer, normalizer and added tokens of the family they stand for (Qwen2 / Qwen3 or
Llama 3).

Run inside the reference venv (scripts/reference/setup-venv.sh), from the repository root:
    python tools/make_random_model.py [--out-dir tests/fixtures]
The output is deterministic for a given version of torch, transformers and tokenizers.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import json
import math
import pathlib
import sys

import numpy as np
import torch

sys.dont_write_bytecode = True

import gguf  # noqa: E402
import tokenizers  # noqa: E402
from tokenizers import decoders, models, normalizers, pre_tokenizers, processors, trainers  # noqa: E402
import transformers  # noqa: E402

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
CHAT_TEMPLATES = REPO_ROOT / "scripts/reference/chat_templates"

# The Split regexes of the real tokenizer.json files.
QWEN2_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
LLAMA3_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# (content, special) in id order after the trained vocabulary. Qwen3 marks <think> and </think>
# as non-special added tokens; everything else here is special.
QWEN_ADDED = [("<|endoftext|>", True), ("<|im_start|>", True), ("<|im_end|>", True)]
QWEN3_ADDED = QWEN_ADDED + [("<think>", False), ("</think>", False)]
LLAMA3_ADDED = [
    ("<|begin_of_text|>", True),
    ("<|end_of_text|>", True),
    ("<|start_header_id|>", True),
    ("<|end_header_id|>", True),
    ("<|eot_id|>", True),
]

CORPUS = [
    "The old harbour town woke slowly in winter. Before dawn, the fishing boats slipped out past",
    "the breakwater, their lamps swinging in the dark, and the only sounds on the quay were the",
    "creak of ropes and the cries of the gulls that followed them. By eight o'clock the bakery",
    "on the corner had opened its shutters, and the smell of bread drifted down the streets.",
    "What is 12 + 345? Let me think: 12 + 345 = 357. The answer is 357.",
    "def add(a, b):\n    return a + b\n\nprint(add(2, 3))\n",
    "She said: \"I'll be there at 10:30, won't you?\" They're sure it's fine.",
]

TEXTS = [
    ("hello", "Hello world"),
    ("prose", CORPUS[0] + " " + CORPUS[1] + " " + CORPUS[2]),
    ("digits", "Numbers: 1234567 and 3.14159, then 2026-12-04."),
    ("code", CORPUS[5]),
    ("special", "<|im_start|>user\nHi there!<|im_end|>\n<|im_start|>assistant\n<think>\n</think>\n"),
    ("llama_special", "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"),
    ("unicode", "Café, naïve façade — 東京 and ﬁne ligatures."),
]

# Names of the TEXTS whose logits are recorded.
LOGIT_PROMPTS = ["hello", "prose", "code"]
GREEDY_PROMPT = "prose"
GREEDY_NEW_TOKENS = 8
CHAT_MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "What is 12 + 345?"},
]
ROUND = 6


@dataclasses.dataclass
class Spec:
    name: str
    architecture: str  # transformers class name, as in config.json "architectures"
    gguf_arch: str
    family: str  # "qwen" or "llama3": tokenizer layout and special tokens
    added_tokens: list[tuple[str, bool]]
    dtype: torch.dtype  # stored dtype of the safetensors and GGUF matrices
    tied: bool
    config: dict  # transformers config arguments
    seed: int
    chat_template: str  # file name in scripts/reference/chat_templates
    sharded_copy: bool = False  # also save the directory in shards

    def chat_template_text(self) -> str:
        return (CHAT_TEMPLATES / self.chat_template).read_text()


SPECS = [
    Spec(
        name="hf_qwen3_tied_bf16",
        architecture="Qwen3ForCausalLM",
        gguf_arch="qwen3",
        family="qwen",
        added_tokens=QWEN3_ADDED,
        dtype=torch.bfloat16,
        tied=True,
        # head_dim 32 with 4 heads differs from hidden_size / heads = 16, as in Qwen3 checkpoints.
        config=dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, head_dim=32, rms_norm_eps=1e-6, rope_theta=1000000.0,
                    max_position_embeddings=4096),
        seed=3,
        chat_template="qwen3.jinja",
        sharded_copy=True,
    ),
    Spec(
        name="hf_qwen2_f32",
        architecture="Qwen2ForCausalLM",
        gguf_arch="qwen2",
        family="qwen",
        added_tokens=QWEN_ADDED,
        dtype=torch.float32,
        tied=False,
        config=dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, rms_norm_eps=1e-6, rope_theta=1000000.0,
                    max_position_embeddings=4096),
        seed=2,
        chat_template="qwen2_5.jinja",
    ),
    Spec(
        name="hf_llama3_bf16",
        architecture="LlamaForCausalLM",
        gguf_arch="llama",
        family="llama3",
        added_tokens=LLAMA3_ADDED,
        dtype=torch.bfloat16,
        tied=False,
        # A short original context puts the 8 frequencies of a 16-wide head in all three bands of
        # Llama 3 scaling (kept, smoothed and divided by factor) for the prompts used here.
        config=dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, rms_norm_eps=1e-5, rope_theta=500000.0,
                    max_position_embeddings=4096,
                    rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                      high_freq_factor=4.0, original_max_position_embeddings=64)),
        seed=1,
        chat_template="llama3.jinja",
    ),
]

N_MERGES = 64
N_VOCAB_PADDING = 11  # embedding rows beyond the tokenizer, as Qwen checkpoints have


# ---------------------------------------------------------------------------------------------
# Tokenizer


def build_tokenizer(spec: Spec) -> tokenizers.Tokenizer:
    """Trains a byte-level BPE on CORPUS, shaped like the family's real tokenizer.json."""
    regex = QWEN2_REGEX if spec.family == "qwen" else LLAMA3_REGEX
    tok = tokenizers.Tokenizer(models.BPE(ignore_merges=spec.family == "llama3"))
    if spec.family == "qwen":
        tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(tokenizers.Regex(regex), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=256 + N_MERGES,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer=trainer)
    for content, special in spec.added_tokens:
        token = tokenizers.AddedToken(content, special=special, normalized=False)
        if special:
            tok.add_special_tokens([token])
        else:
            tok.add_tokens([token])
    if spec.family == "llama3":
        # Llama 3 puts BOS before every encoded text through its post-processor.
        bos = "<|begin_of_text|>"
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tok.token_to_id(bos))])
    return tok


def vocab_in_id_order(tok: tokenizers.Tokenizer) -> list[str]:
    vocab = tok.get_vocab(with_added_tokens=True)
    tokens = [""] * len(vocab)
    for text, i in vocab.items():
        tokens[i] = text
    assert all(tokens), "the vocabulary has gaps"
    return tokens


def merges_of(tok: tokenizers.Tokenizer) -> list[str]:
    merges = json.loads(tok.to_str())["model"]["merges"]
    return [m if isinstance(m, str) else " ".join(m) for m in merges]


def write_tokenizer_files(spec: Spec, tok: tokenizers.Tokenizer, out: pathlib.Path) -> None:
    tok.save(str(out / "tokenizer.json"))
    if spec.family == "qwen":
        bos, eos, pad = None, "<|im_end|>" if spec.architecture == "Qwen3ForCausalLM" else "<|endoftext|>", "<|endoftext|>"
    else:
        bos, eos, pad = "<|begin_of_text|>", "<|eot_id|>", None
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast" if spec.family == "llama3" else "Qwen2Tokenizer",
        "bos_token": bos,
        "eos_token": eos,
        "pad_token": pad,
        "model_max_length": 4096,
        "chat_template": spec.chat_template_text(),
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")


# ---------------------------------------------------------------------------------------------
# Model


def make_model(spec: Spec, n_vocab: int, tok: tokenizers.Tokenizer) -> torch.nn.Module:
    config_class = getattr(transformers, spec.architecture.replace("ForCausalLM", "Config"))
    vocab = tok.get_vocab(with_added_tokens=True)
    bos, eos = ("<|endoftext|>", "<|endoftext|>") if spec.family == "qwen" else ("<|begin_of_text|>", "<|end_of_text|>")
    special = dict(bos_token_id=vocab[bos], eos_token_id=vocab[eos])
    config = config_class(vocab_size=n_vocab, tie_word_embeddings=spec.tied, **special, **spec.config)
    torch.manual_seed(spec.seed)
    model = getattr(transformers, spec.architecture)(config).to(torch.float32).eval()
    randomize(model, spec.seed)
    if spec.tied:
        model.tie_weights()
    return model


def randomize(model: torch.nn.Module, seed: int) -> None:
    """Weights like tests/support/tiny_model.cpp: unit embeddings, norms near one, large Q and K
    so that attention is peaked, and the rest small enough that activations stay within a few units."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                value = 1.0 + 0.1 * torch.randn(p.shape, generator=g)
            elif name.endswith(".bias"):
                value = 0.1 * torch.randn(p.shape, generator=g)
            elif "embed_tokens" in name:
                value = torch.randn(p.shape, generator=g)
            elif name.endswith(("q_proj.weight", "k_proj.weight")):
                value = 0.5 * torch.randn(p.shape, generator=g)
            elif name == "lm_head.weight":
                value = 0.3 * torch.randn(p.shape, generator=g)
            else:
                value = 0.2 * torch.randn(p.shape, generator=g)
            p.copy_(value)


def classic_config(spec: Spec, saved: dict) -> dict:
    """Rewrites a config.json saved by transformers 5 in the layout that published checkpoints
    use: rope_theta and rope_scaling at the top level instead of rope_parameters, and
    torch_dtype for the stored dtype."""
    config = dict(saved)
    rope = dict(config.pop("rope_parameters"))
    config["rope_theta"] = rope.pop("rope_theta")
    config["rope_scaling"] = rope if rope.get("rope_type", "default") != "default" else None
    config.pop("dtype", None)
    config["torch_dtype"] = {torch.bfloat16: "bfloat16", torch.float32: "float32"}[spec.dtype]
    config.pop("layer_types", None)  # derived from other fields when absent
    return dict(sorted(config.items()))


def save_hf(spec: Spec, model: torch.nn.Module, tok: tokenizers.Tokenizer, out: pathlib.Path,
            max_shard_size: str | None = None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    shard_args = {"max_shard_size": max_shard_size} if max_shard_size else {}
    model.to(spec.dtype).save_pretrained(out, safe_serialization=True, **shard_args)
    model.to(torch.float32)
    config_path = out / "config.json"
    config_path.write_text(json.dumps(classic_config(spec, json.loads(config_path.read_text())), indent=2) + "\n")
    write_tokenizer_files(spec, tok, out)
    for weights in out.glob("*.safetensors"):
        weights.chmod(0o644)  # save_pretrained creates them owner-only
    generation = {"do_sample": True, "temperature": 0.6, "top_p": 0.95, "top_k": 20}
    generation.update(bos_token_id=model.config.bos_token_id, eos_token_id=model.config.eos_token_id)
    (out / "generation_config.json").write_text(json.dumps(generation, indent=2) + "\n")


# ---------------------------------------------------------------------------------------------
# GGUF, as llama.cpp's convert_hf_to_gguf.py writes it


def permute_rows(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's LlamaModel.permute: within each head, rows [x0..x(d/2-1), y0..] become
    [x0, y0, x1, y1, ...], so that RoPE can rotate adjacent pairs."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def llama3_rope_factors(head_dim: int, theta: float, scaling: dict) -> np.ndarray:
    """llama.cpp's rope_freqs for rope_type llama3: the divisor of each inverse frequency."""
    freqs = 1.0 / (theta ** (np.arange(0, head_dim, 2, dtype=np.float32) / head_dim))
    factor = scaling["factor"]
    low, high = scaling["low_freq_factor"], scaling["high_freq_factor"]
    old_context = scaling["original_max_position_embeddings"]
    low_wavelen, high_wavelen = old_context / low, old_context / high
    factors = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < high_wavelen:
            factors.append(1.0)
        elif wavelen > low_wavelen:
            factors.append(factor)
        else:
            smooth = (old_context / wavelen - low) / (high - low)
            factors.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.array(factors, dtype=np.float32)


GGUF_NAMES = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}
GGUF_LAYER_NAMES = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "self_attn.q_proj.bias": "attn_q.bias",
    "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.bias": "attn_v.bias",
    "self_attn.q_norm.weight": "attn_q_norm.weight",
    "self_attn.k_norm.weight": "attn_k_norm.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}


def gguf_name(hf_name: str) -> str:
    if hf_name in GGUF_NAMES:
        return GGUF_NAMES[hf_name]
    parts = hf_name.split(".")
    assert parts[:2] == ["model", "layers"], hf_name
    return f"blk.{parts[2]}." + GGUF_LAYER_NAMES[".".join(parts[3:])]


def add_gguf_tensor(w: gguf.GGUFWriter, name: str, value: torch.Tensor, dtype: torch.dtype) -> None:
    # llama.cpp keeps 1-D tensors (norms, biases) in float32 whatever the model's dtype.
    if value.dim() == 1 or dtype == torch.float32:
        w.add_tensor(name, value.to(torch.float32).numpy())
    else:
        bits = value.to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
        w.add_tensor(name, bits, raw_dtype=gguf.GGMLQuantizationType.BF16)


def save_gguf(spec: Spec, model: torch.nn.Module, tok: tokenizers.Tokenizer, path: pathlib.Path) -> None:
    c = model.config
    arch = spec.gguf_arch
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    w = gguf.GGUFWriter(str(path), arch)
    w.add_name(spec.name)
    w.add_block_count(c.num_hidden_layers)
    w.add_context_length(c.max_position_embeddings)
    w.add_embedding_length(c.hidden_size)
    w.add_feed_forward_length(c.intermediate_size)
    w.add_head_count(c.num_attention_heads)
    w.add_head_count_kv(c.num_key_value_heads)
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    w.add_rope_dimension_count(head_dim)
    rope = c.rope_parameters
    w.add_rope_freq_base(rope["rope_theta"])
    w.add_layer_norm_rms_eps(c.rms_norm_eps)

    # llama.cpp pads the vocabulary to the embedding size with unused [PAD<i>] tokens.
    tokens = vocab_in_id_order(tok)
    added = {t.content: t for t in tok.get_added_tokens_decoder().values()}
    types = [gguf.TokenType.NORMAL] * len(tokens)
    for i, text in enumerate(tokens):
        if text in added:
            types[i] = gguf.TokenType.CONTROL if added[text].special else gguf.TokenType.USER_DEFINED
    for i in range(len(tokens), c.vocab_size):
        tokens.append(f"[PAD{i}]")
        types.append(gguf.TokenType.UNUSED)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2" if spec.family == "qwen" else "llama-bpe")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges_of(tok))
    w.add_bos_token_id(c.bos_token_id)
    w.add_eos_token_id(c.eos_token_id)
    w.add_add_bos_token(spec.family == "llama3")
    w.add_chat_template(spec.chat_template_text())

    for hf_name, value in model.state_dict().items():
        if spec.tied and hf_name == "lm_head.weight":
            continue
        value = value.detach()
        if arch == "llama" and hf_name.endswith("q_proj.weight"):
            value = torch.from_numpy(permute_rows(value.numpy(), c.num_attention_heads))
        elif arch == "llama" and hf_name.endswith("k_proj.weight"):
            value = torch.from_numpy(permute_rows(value.numpy(), c.num_key_value_heads))
        add_gguf_tensor(w, gguf_name(hf_name), value, spec.dtype)
    if rope.get("rope_type") == "llama3":
        w.add_tensor("rope_freqs.weight", llama3_rope_factors(head_dim, rope["rope_theta"], rope))

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


# ---------------------------------------------------------------------------------------------
# Reference values


def reference(spec: Spec, hf_dir: pathlib.Path) -> dict:
    """Reloads the saved directory, as a user would, and records ids and float32 logits."""
    tok = transformers.AutoTokenizer.from_pretrained(hf_dir)
    raw = tokenizers.Tokenizer.from_file(str(hf_dir / "tokenizer.json"))
    model = transformers.AutoModelForCausalLM.from_pretrained(
        hf_dir, dtype=torch.float32, attn_implementation="eager").eval()

    texts = []
    for name, text in TEXTS:
        ids = raw.encode(text, add_special_tokens=False).ids
        assert ids == tok.encode(text, add_special_tokens=False), (spec.name, name)
        texts.append({"name": name, "text": text, "ids": ids})
    ids_by_name = {t["name"]: t["ids"] for t in texts}

    prompts = []
    with torch.no_grad():
        for name in LOGIT_PROMPTS:
            ids = ids_by_name[name]
            logits = model(torch.tensor([ids])).logits[0, -1]
            prompts.append({"name": name, "ids": ids,
                            "logits": [round(float(x), ROUND) for x in logits]})
        ids = ids_by_name[GREEDY_PROMPT]
        out = model.generate(torch.tensor([ids]), max_new_tokens=GREEDY_NEW_TOKENS, do_sample=False,
                             eos_token_id=None, pad_token_id=0)
    generated = out[0, len(ids):].tolist()

    # The chat prompt as transformers tokenizes it: the template writes BOS where the family has
    # one, and the text is encoded without adding special tokens.
    chat_ids = tok.apply_chat_template(CHAT_MESSAGES, add_generation_prompt=True, enable_thinking=False,
                                       tokenize=True)
    if not isinstance(chat_ids, list):
        chat_ids = chat_ids["input_ids"]
    return {
        "architecture": spec.architecture,
        "gguf_arch": spec.gguf_arch,
        "dtype": str(spec.dtype).removeprefix("torch."),
        "tied_embeddings": spec.tied,
        "n_vocab": model.config.vocab_size,
        "tokenizer_size": len(raw.get_vocab(with_added_tokens=True)),
        "texts": texts,
        "prompts": prompts,
        "greedy": {"prompt": GREEDY_PROMPT, "generated_ids": generated},
        "chat": {"messages": CHAT_MESSAGES, "enable_thinking": False, "ids": list(chat_ids)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out-dir", type=pathlib.Path, default=REPO_ROOT / "tests/fixtures")
    args = parser.parse_args()
    models_dir = args.out_dir / "models"
    models_dir.mkdir(parents=True, exist_ok=True)

    fixture = {
        "generator": "tools/make_random_model.py",
        "versions": {p: importlib.metadata.version(p) for p in ("torch", "transformers", "tokenizers", "gguf")},
        "models": {},
    }
    for spec in SPECS:
        tok = build_tokenizer(spec)
        n_tokens = len(tok.get_vocab(with_added_tokens=True))
        n_vocab = n_tokens + (N_VOCAB_PADDING if spec.family == "qwen" else 0)
        model = make_model(spec, n_vocab, tok)
        hf_dir = models_dir / spec.name
        save_hf(spec, model, tok, hf_dir)
        save_gguf(spec, model, tok, models_dir / f"{spec.name}.gguf")
        if spec.sharded_copy:
            # The same weights in several shards with model.safetensors.index.json, as large
            # checkpoints are published.
            save_hf(spec, model, tok, models_dir / f"{spec.name}_sharded", max_shard_size="100KB")
        fixture["models"][spec.name] = reference(spec, hf_dir)
        print(f"{spec.name}: {n_tokens} tokens, {n_vocab} embedding rows", file=sys.stderr)

    out = args.out_dir / "hf_random_models.json"
    out.write_text(json.dumps(fixture, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
