#!/usr/bin/env python3
"""Writes tests/fixtures/smollm2_logits.json: reference logits and greedy tokens for the GGUF.

The model is loaded with Hugging Face transformers' GGUF support, which dequantizes every tensor
(Q4_1, Q8_0) to float32 with the `gguf` package and undoes llama.cpp's row permutation of the Q
and K projections. The forward pass then runs in float32 on the CPU with eager attention. An
engine that dequantizes the same blocks and computes in float32 should match these logits to
about 1e-3; it does not have to quantize activations the way llama.cpp does.

Prompts are tokenized once, with the tokenizer that make_tokenizer_fixture.py builds from the
GGUF, and cross-checked against the tokenizer that transformers converts from the GGUF. The ids
are stored, so a test feeds them directly and does not depend on the engine's tokenizer.

For each prompt the fixture stores the last position's logits for a subset of the vocabulary
(the 64 largest plus every 97th id), the argmax, and the max, mean and standard deviation of the
whole last-position vector. For two prompts it stores 48 greedily generated tokens.

Run inside the reference venv (scripts/reference/setup-venv.sh):
    python scripts/reference/make_logits_fixture.py [--model PATH] [--out PATH]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import pathlib
import re
import sys

import torch

sys.dont_write_bytecode = True  # Keeps __pycache__ out of scripts/reference.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import make_tokenizer_fixture as tokfix  # noqa: E402

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "tests/fixtures/smollm2_logits.json"

TOP_K = 64
STRIDE = 97
ROUND = 5
GREEDY_NEW_TOKENS = 48

CHAT_PROMPT = (
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
    "<|im_end|>\n<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
    "<|im_start|>assistant\n"
)

PROSE_PROMPT = (
    "The old harbour town woke slowly in winter. Before dawn, the fishing boats slipped out "
    "past the breakwater, their lamps swinging in the dark, and the only sounds on the quay were "
    "the creak of ropes and the cries of the gulls that followed them. By eight o'clock the "
    "bakery on the corner had opened its shutters, and the smell of bread drifted down the "
    "narrow streets toward the water. The schoolchildren came next, wrapped in scarves, arguing "
    "about football and homework as they climbed the hill to the grey stone school. Their "
    "teacher, a patient woman who had lived in the town all her life, liked to begin each "
    "morning with a question about the sea: why the tide rose twice a day, where the herring "
    "went in summer, how the lighthouse keepers of the past had kept their lamps burning through "
    "storms. In the afternoons the boats returned, heavy with their catch, and the market filled "
    "with buyers from the inland villages. Prices were shouted, crates were stacked, and by "
    "evening the quay was quiet again, washed clean by the rain that came in from the west. At "
    "night the lighthouse turned its slow beam across the water, and the town slept, waiting for "
    "the boats to go out once more."
)

# name, text, whether special tokens are matched in the text, whether to store a greedy run.
PROMPTS = [
    ("hello", "Hello", False, False),
    ("chat", CHAT_PROMPT, True, True),
    ("prose", PROSE_PROMPT, False, False),
    ("colors", "The three primary colors are", False, True),
]


def tokenize_prompts(model_path: pathlib.Path) -> tuple[dict[str, list[int]], bool]:
    """Returns the ids of every prompt, and whether transformers' GGUF tokenizer gives the same."""
    tokens, merges, token_types = tokfix.read_gguf_vocab(model_path)
    tok = tokfix.build_tokenizer(tokens, merges, token_types, "smollm", with_added_tokens=True)

    from transformers import AutoTokenizer

    hf_tok = AutoTokenizer.from_pretrained(str(model_path.parent), gguf_file=model_path.name)

    ids_by_name = {}
    agree = True
    for name, text, parse_special, _ in PROMPTS:
        tok.encode_special_tokens = not parse_special
        ids = tok.encode(text, add_special_tokens=False).ids
        # transformers always matches special tokens in text. Only the chat prompt contains any.
        hf_ids = hf_tok(text, add_special_tokens=False)["input_ids"]
        if hf_ids != ids:
            agree = False
            print(
                f"warning: transformers' GGUF tokenizer gives different ids for prompt {name!r}: "
                f"{hf_ids} instead of {ids}",
                file=sys.stderr,
            )
        ids_by_name[name] = ids
    if len(ids_by_name["hello"]) != 1:
        sys.exit(f"'Hello' is not a single token: {ids_by_name['hello']}")
    if len(ids_by_name["prose"]) < 200:
        sys.exit(f"the prose prompt has only {len(ids_by_name['prose'])} tokens; 200+ are wanted")
    return ids_by_name, agree


def load_model(model_path: pathlib.Path):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(
        str(model_path.parent),
        gguf_file=model_path.name,
        dtype=torch.float32,
        attn_implementation="eager",
    )
    model.eval()
    if model.lm_head.weight.data_ptr() != model.model.embed_tokens.weight.data_ptr():
        sys.exit("expected the output projection to be tied to token_embd")
    return model


@torch.no_grad()
def last_logits(model, ids: list[int]) -> torch.Tensor:
    out = model(input_ids=torch.tensor([ids], dtype=torch.long), use_cache=False)
    logits = out.logits[0, -1].to(torch.float64)
    if not torch.isfinite(logits).all():
        sys.exit("non-finite logits")
    return logits


def logits_record(ids: list[int], logits: torch.Tensor) -> dict:
    vocab = logits.numel()
    top = torch.topk(logits, TOP_K).indices.tolist()
    subset = sorted(set(top) | set(range(0, vocab, STRIDE)))
    return {
        "n_tokens": len(ids),
        "ids": ids,
        "argmax": int(torch.argmax(logits)),
        "max": round(float(logits.max()), ROUND),
        "mean": round(float(logits.mean()), ROUND),
        "std": round(float(logits.std(unbiased=False)), ROUND),
        "logits": {
            "token_ids": subset,
            "values": [round(float(logits[i]), ROUND) for i in subset],
        },
    }


@torch.no_grad()
def greedy(model, prompt_ids: list[int], n_new: int) -> tuple[list[int], list[float]]:
    """Decodes greedily with a KV cache for exactly n_new tokens, past any end-of-turn token.

    Also returns, per step, the gap between the best and second-best logit, so a test can tell
    a real divergence from a near tie.
    """
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config)  # Each forward call appends to it in place.
    out = model(input_ids=torch.tensor([prompt_ids], dtype=torch.long), cache=cache, use_cache=True)
    logits = out.logits[0, -1]
    generated, margins = [], []
    for step in range(n_new):
        top2 = torch.topk(logits, 2)
        next_id = int(top2.indices[0])
        generated.append(next_id)
        margins.append(round(float(top2.values[0] - top2.values[1]), 4))
        if step + 1 == n_new:
            break
        out = model(input_ids=torch.tensor([[next_id]], dtype=torch.long), cache=cache, use_cache=True)
        logits = out.logits[0, -1]
    return generated, margins


@torch.no_grad()
def argmax_without_cache(model, prompt_ids: list[int], generated: list[int]) -> list[int]:
    """Returns the argmax at each generating position of one uncached pass over prompt + output."""
    ids = prompt_ids + generated[:-1]
    logits = model(input_ids=torch.tensor([ids], dtype=torch.long), use_cache=False).logits[0]
    return logits[len(prompt_ids) - 1 :].argmax(dim=-1).tolist()


@torch.no_grad()
def transformers_generate(model, prompt_ids: list[int], n_new: int) -> list[int]:
    """Runs model.generate with do_sample=False, which stops at the model's end-of-turn token."""
    out = model.generate(
        torch.tensor([prompt_ids], dtype=torch.long),
        attention_mask=torch.ones(1, len(prompt_ids), dtype=torch.long),
        max_new_tokens=n_new,
        do_sample=False,
        repetition_penalty=1.0,
        temperature=None,
        top_p=None,
        top_k=None,
        pad_token_id=model.config.pad_token_id,
    )
    return out[0, len(prompt_ids) :].tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=pathlib.Path, default=tokfix.default_model_path())
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    args = parser.parse_args()
    if not args.model.is_file():
        sys.exit(f"model not found: {args.model}. Run scripts/fetch-model.sh, or pass --model PATH.")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    ids_by_name, tokenizers_agree = tokenize_prompts(args.model)
    model = load_model(args.model)
    eos_id = int(model.config.eos_token_id)

    prompts = []
    for name, text, parse_special, _ in PROMPTS:
        ids = ids_by_name[name]
        record = {"name": name, "text": text, "parse_special": parse_special}
        record.update(logits_record(ids, last_logits(model, ids)))
        prompts.append(record)
        print(f"{name}: {len(ids)} tokens, argmax {record['argmax']}, max {record['max']}")

    tokens = tokfix.read_gguf_vocab(args.model)
    tok = tokfix.build_tokenizer(*tokens, "smollm", with_added_tokens=True)

    greedy_runs = []
    for name, _, _, wants_greedy in PROMPTS:
        if not wants_greedy:
            continue
        prompt_ids = ids_by_name[name]
        generated, margins = greedy(model, prompt_ids, GREEDY_NEW_TOKENS)
        # Cross-check with transformers' own generate(): it must give the same tokens up to and
        # including the first end-of-turn token, where it stops.
        hf = transformers_generate(model, prompt_ids, GREEDY_NEW_TOKENS)
        if hf != generated[: len(hf)]:
            sys.exit(f"{name}: model.generate() disagrees with the greedy loop:\n{hf}\n{generated}")
        # And one uncached forward pass over prompt + output must pick the same tokens.
        uncached = argmax_without_cache(model, prompt_ids, generated)
        if uncached != generated:
            sys.exit(f"{name}: the uncached forward pass disagrees:\n{uncached}\n{generated}")
        first_eos = generated.index(eos_id) if eos_id in generated else None
        greedy_runs.append(
            {
                "name": name,
                "prompt_ids": prompt_ids,
                "generated_ids": generated,
                "first_eos_index": first_eos,
                "top1_top2_margins": margins,
                "generated_text": tok.decode(generated, skip_special_tokens=False),
            }
        )
        up_to_eos = generated if first_eos is None else generated[: first_eos + 1]
        print(f"--- greedy {name} ---\n{tok.decode(up_to_eos, skip_special_tokens=False)}\n")

    versions = ", ".join(
        f"{pkg} {importlib.metadata.version(pkg)}"
        for pkg in ("transformers", "torch", "gguf", "tokenizers", "numpy")
    )
    fixture = {
        "generator": "scripts/reference/make_logits_fixture.py",
        "library": versions,
        "model": args.model.name,
        "model_sha256": tokfix.sha256_of(args.model),
        "dtype": "float32",
        "notes": (
            "Computed with transformers' GGUF loader (AutoModelForCausalLM.from_pretrained(dir, "
            "gguf_file=name, dtype=float32), eager attention) on the CPU: every Q4_1 and Q8_0 "
            "tensor is dequantized to float32 with the gguf package, llama.cpp's Q/K row "
            "permutation is undone, and the output projection is tied to token_embd. No BOS is "
            "added (tokenizer.ggml.add_bos_token is false). Prompt ids come from the smollm "
            "tokenizer of make_tokenizer_fixture.py; transformers' own GGUF tokenizer "
            + ("agrees on all of them." if tokenizers_agree else "DISAGREES on some of them.")
            + f" 'logits' holds the last position only, for the {TOP_K} largest logits plus every "
            f"{STRIDE}th token id (0, {STRIDE}, {2 * STRIDE}, ...), sorted by id and rounded to "
            f"{ROUND} decimals; max, mean and std (population) are over the whole last-position "
            f"vector. 'greedy' runs take the argmax for exactly {GREEDY_NEW_TOKENS} new tokens "
            "with a KV cache, no sampling and no repetition penalty, and do not stop at the "
            f"end-of-turn token {eos_id}; first_eos_index is where model.generate(do_sample=False) "
            "would stop, and it was checked to produce the same tokens up to there; one uncached "
            "forward pass over prompt + output was also checked to pick the same tokens. "
            "top1_top2_margins gives, per step, the best logit minus the second best: a mismatch "
            "at a step with a tiny margin is a near tie, not necessarily a bug."
        ),
        "prompts": prompts,
        "greedy": greedy_runs,
    }
    write_fixture(args.out, fixture)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")


def write_fixture(path: pathlib.Path, fixture: dict) -> None:
    """Writes indented JSON, with each list of numbers on one line so the file stays small."""
    text = json.dumps(fixture, ensure_ascii=False, indent=1)
    # json.dumps puts every list element on its own line, so collapse lists of plain numbers.
    def collapse(match: re.Match) -> str:
        items = [s.strip() for s in match.group(1).split(",")]
        return "[" + ", ".join(items) + "]"

    text = re.sub(r"\[\s*((?:-?[0-9.eE+-]+\s*,\s*)*-?[0-9.eE+-]+)\s*\]", collapse, text)
    if json.loads(text) != fixture:
        sys.exit("internal error: the written fixture does not parse back to the same data")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
