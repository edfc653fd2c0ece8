#!/usr/bin/env python3
"""Writes tests/fixtures/tokenizer_cases.json: reference token ids from Hugging Face `tokenizers`.

The vocabulary, merges and token types are read from the GGUF with the `gguf` package, and two
`tokenizers.Tokenizer` objects are built from them: one with SmolLM2's pre-tokenizer and one with
the pre-tokenizer that Qwen2, Qwen2.5 and Qwen3 ship. Both use the same SmolLM2 vocabulary, so the
fixture checks the engine's pre-tokenizer regexes and its BPE merge loop independently of which
model family the vocabulary came from.

Each case records the text, which pre-tokenizer was used, whether special tokens were matched in
the text ("parse_special"), and the ids. Every case is also decoded back and the result recorded.

Run inside the reference venv (scripts/reference/setup-venv.sh):
    python scripts/reference/make_tokenizer_fixture.py [--model PATH] [--out PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import pathlib
import sys
import unicodedata

import gguf
import tokenizers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_MODEL = pathlib.Path.home() / ".cache/lessismore/models/SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_OUT = REPO_ROOT / "tests/fixtures/tokenizer_cases.json"

# Values of tokenizer.ggml.token_type (gguf.TokenType): 3 and 4.
TOKEN_TYPE_CONTROL = int(gguf.TokenType.CONTROL)
TOKEN_TYPE_USER_DEFINED = int(gguf.TokenType.USER_DEFINED)

# The split regex from Qwen2/Qwen2.5/Qwen3 tokenizer.json, verbatim.
QWEN2_SPLIT_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

PRE_TOKENIZERS = ("smollm", "qwen2")


def default_model_path() -> pathlib.Path:
    """Returns where scripts/fetch-model.sh caches the default model."""
    cache = os.environ.get("LIM_CACHE_DIR")
    if cache:
        return pathlib.Path(cache) / "models/SmolLM2-135M-Instruct.Q4_1.gguf"
    return DEFAULT_MODEL


def sha256_of(path: pathlib.Path) -> str:
    """Returns the file's sha256 as lowercase hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def read_gguf_vocab(path: pathlib.Path) -> tuple[list[str], list[str], list[int]]:
    """Returns (tokens, merges, token_types) exactly as stored in the GGUF."""
    reader = gguf.GGUFReader(str(path))
    fields = reader.fields
    model = fields["tokenizer.ggml.model"].contents()
    if model != "gpt2":
        sys.exit(f"expected tokenizer.ggml.model 'gpt2' (byte-level BPE), found {model!r}")
    tokens = fields["tokenizer.ggml.tokens"].contents()
    merges = fields["tokenizer.ggml.merges"].contents()
    token_types = fields["tokenizer.ggml.token_type"].contents()
    if len(tokens) != len(token_types):
        sys.exit("tokenizer.ggml.tokens and tokenizer.ggml.token_type differ in length")
    return tokens, merges, token_types


def make_pre_tokenizer(name: str) -> pre_tokenizers.PreTokenizer:
    """Returns the pre-tokenizer named "smollm" or "qwen2", as the notes field describes."""
    if name == "smollm":
        # SmolLM2 tokenizer.json: digits one at a time, then the GPT-2 regex inside ByteLevel.
        return pre_tokenizers.Sequence(
            [
                pre_tokenizers.Digits(individual_digits=True),
                pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
            ]
        )
    if name == "qwen2":
        # Qwen2/Qwen2.5/Qwen3 tokenizer.json, without its NFC normalizer (see the notes field).
        return pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(QWEN2_SPLIT_REGEX), behavior="isolated", invert=False),
                pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
            ]
        )
    raise ValueError(f"unknown pre-tokenizer {name!r}")


def build_tokenizer(
    tokens: list[str],
    merges: list[str],
    token_types: list[int],
    pre: str,
    with_added_tokens: bool = True,
) -> Tokenizer:
    """Builds a byte-level BPE tokenizer over the GGUF vocabulary.

    With with_added_tokens, every CONTROL token is registered as a special token and every
    USER_DEFINED token as an added token, so that both are matched verbatim in the input text.
    """
    vocab = {tok: i for i, tok in enumerate(tokens)}
    if len(vocab) != len(tokens):
        sys.exit("the GGUF vocabulary has duplicate token strings")
    merge_pairs = []
    for m in merges:
        left, sep, right = m.partition(" ")
        if not sep or not left or not right or " " in right:
            sys.exit(f"malformed merge {m!r}")
        merge_pairs.append((left, right))
    model = models.BPE(
        vocab=vocab,
        merges=merge_pairs,
        # unk_token, continuing_subword_prefix and end_of_word_suffix stay unset.
        fuse_unk=False,
        byte_fallback=False,
        ignore_merges=False,
    )
    tok = Tokenizer(model)
    tok.pre_tokenizer = make_pre_tokenizer(pre)
    tok.decoder = decoders.ByteLevel()
    if with_added_tokens:
        special = [
            AddedToken(t, special=True, normalized=False, lstrip=False, rstrip=False, single_word=False)
            for t, ty in zip(tokens, token_types)
            if ty == TOKEN_TYPE_CONTROL
        ]
        user = [
            AddedToken(t, special=False, normalized=False, lstrip=False, rstrip=False, single_word=False)
            for t, ty in zip(tokens, token_types)
            if ty == TOKEN_TYPE_USER_DEFINED
        ]
        tok.add_special_tokens(special)
        if user:
            tok.add_tokens(user)
        # Registering existing vocabulary entries must not create new ids.
        for t in special + user:
            if tok.token_to_id(t.content) != vocab[t.content]:
                sys.exit(f"added token {t.content!r} did not keep its vocabulary id")
        if tok.get_vocab_size(with_added_tokens=True) != len(tokens):
            sys.exit("adding the special tokens changed the vocabulary size")
    return tok


# Texts encoded with both pre-tokenizers and parse_special=False. All of them are NFC already.
PLAIN_TEXTS = [
    "",
    " ",
    "  ",
    "   ",
    "    ",
    "     ",
    "      ",
    "Hello",
    " Hello",
    "Hello ",
    "  Hello  world  ",
    "Hello world",
    "a  b   c    d     e      f",
    "\t",
    "\tindented\twith\ttabs\t",
    "\n",
    "\n\n\n",
    " \n ",
    "\r\n",
    "line one\r\nline two\r\n",
    "trailing spaces   \n  and a leading run",
    "1",
    "12",
    "123",
    "1234567",
    "3.14159",
    "1,000,000",
    "Version 2.0.1 released in 2024 with 15% more speed",
    "don't",
    "DON'T",
    "I'M here",
    "I'm here",
    "we'll",
    "WE'LL",
    "they've",
    "they'VE",
    "She'd said it's John's",
    "...!!!??",
    "--->",
    "a <= b && c != d || e >= f",
    "def f(x):\n    return x**2",
    "int main() {\n\treturn 0;\n}\n",
    "{\"key\": [1, 2, 3], \"nested\": {\"a\": null}}",
    "https://example.com/path?query=1&x=y#frag",
    "café",
    "naïve",
    "Ångström",
    "Größenwahn und Straßenbahn über Äpfel",
    "Où est la bibliothèque? À bientôt, garçon!",
    "中文",
    "日本語のテキスト",
    "한국어",
    "Привет, мир!",
    "مرحبا بالعالم",
    "😀",
    "👍🏽",
    "👨‍👩‍👧‍👦",
    "🏳️‍🌈 flag",
    "I ❤️ Paris 🇫🇷!",
    "mixed: abc中文123한국어😀éΩ",
    "   leading and trailing   ",
    "x\u00a0y",
    "tab\t \tspace mix \t",
    # Where the Qwen2 split regex and the GPT-2 regex differ: one non-letter glued to a word,
    # punctuation followed by newlines, whitespace runs that end in a newline.
    "(hello) [world] {foo}",
    "hello,world;foo:bar",
    "@user #hashtag $HOME ~/path",
    "snake_case_name and __dunder__",
    ".NET and C# and F#",
    "end.\n\nNext paragraph.\n",
    "a = b\n\n\n  c",
    "x\n  \n  y",
    "She said: \"Yes!\"\n",
    "¿Qué tal? ¡Hola!",
    "e.g. i.e. etc.",
    "全角\u3000スペース",
    "  \n\n  indented block",
    ",,,abc",
]

SPECIAL_TEXTS = [
    "<|im_start|>user\nHi<|im_end|>",
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "text before<|endoftext|>text after",
    "<|im_end|><|im_start|>",
    " <|im_start|> spaced <|im_end|> ",
]


def encode_case(
    tok_special: Tokenizer, tok_plain: Tokenizer, pre: str, text: str, parse_special: bool
) -> dict:
    if parse_special:
        tok_special.encode_special_tokens = False
        ids = tok_special.encode(text, add_special_tokens=False).ids
    else:
        # `encode_special_tokens = True` makes the tokenizer treat special-token text as plain
        # text. A second tokenizer without any added tokens must agree with it.
        tok_special.encode_special_tokens = True
        ids = tok_special.encode(text, add_special_tokens=False).ids
        tok_special.encode_special_tokens = False
        ids_plain = tok_plain.encode(text, add_special_tokens=False).ids
        if ids != ids_plain:
            sys.exit(
                f"[{pre}] encode_special_tokens=True and a tokenizer without added tokens disagree "
                f"on {text!r}: {ids} vs {ids_plain}"
            )
    decoded = tok_special.decode(ids, skip_special_tokens=False)
    return {
        "pre": pre,
        "text": text,
        "parse_special": parse_special,
        "ids": ids,
        "decodes_to_text": decoded == text,
    }


def write_fixture(path: pathlib.Path, fixture: dict) -> None:
    """JSON with one case per line, so diffs of a regenerated fixture stay readable."""
    lines = ["{"]
    for key, value in fixture.items():
        if key == "cases":
            continue
        lines.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},")
    lines.append('  "cases": [')
    cases = fixture["cases"]
    for i, case in enumerate(cases):
        sep = "," if i + 1 < len(cases) else ""
        lines.append("    " + json.dumps(case, ensure_ascii=False) + sep)
    lines.append("  ]")
    lines.append("}")
    text = "\n".join(lines) + "\n"
    if json.loads(text) != fixture:
        sys.exit("internal error: the written fixture does not parse back to the same data")
    path.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=pathlib.Path, default=default_model_path())
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    if not args.model.is_file():
        sys.exit(f"model not found: {args.model}. Run scripts/fetch-model.sh, or pass --model PATH.")

    tokens, merges, token_types = read_gguf_vocab(args.model)
    special_ids = [i for i, ty in enumerate(token_types) if ty in (TOKEN_TYPE_CONTROL, TOKEN_TYPE_USER_DEFINED)]

    texts = [(t, False) for t in PLAIN_TEXTS]
    texts += [(t, True) for t in SPECIAL_TEXTS] + [(t, False) for t in SPECIAL_TEXTS]
    for text, _ in texts:
        if not unicodedata.is_normalized("NFC", text):
            sys.exit(f"test text is not NFC: {text!r}")

    cases = []
    for pre in PRE_TOKENIZERS:
        tok_special = build_tokenizer(tokens, merges, token_types, pre, with_added_tokens=True)
        tok_plain = build_tokenizer(tokens, merges, token_types, pre, with_added_tokens=False)
        for text, parse_special in texts:
            cases.append(encode_case(tok_special, tok_plain, pre, text, parse_special))

    not_round_trip = [c for c in cases if not c["decodes_to_text"]]
    for c in not_round_trip:
        print(f"warning: [{c['pre']}] decoding the ids does not give back {c['text']!r}", file=sys.stderr)

    fixture = {
        "generator": "scripts/reference/make_tokenizer_fixture.py",
        "library": f"tokenizers {tokenizers.__version__}, gguf {importlib.metadata.version('gguf')}",
        "model": args.model.name,
        "model_sha256": sha256_of(args.model),
        "notes": (
            "Token ids from a Hugging Face tokenizers.Tokenizer built from this GGUF's "
            "tokenizer.ggml.tokens and tokenizer.ggml.merges: byte-level BPE with merges in GGUF "
            "order, no unknown token, no byte fallback, ignore_merges=false, ByteLevel decoder. "
            "Tokens of type CONTROL (3) are registered as special tokens and USER_DEFINED (4) as "
            "added tokens (normalized=false, no lstrip/rstrip), so they are matched verbatim when "
            "parse_special is true. parse_special=false cases were encoded with "
            "encode_special_tokens=True and checked against a second tokenizer that has no added "
            "tokens at all. Both pre-tokenizers use the same SmolLM2 vocabulary. "
            "'smollm' is SmolLM2's tokenizer.json pre-tokenizer: Sequence[Digits(individual_digits="
            "true), ByteLevel(add_prefix_space=false, trim_offsets=true, use_regex=true)]. "
            "'qwen2' is the Qwen2/Qwen2.5/Qwen3 tokenizer.json pre-tokenizer: Sequence[Split(Regex("
            + json.dumps(QWEN2_SPLIT_REGEX)
            + "), behavior=isolated), ByteLevel(add_prefix_space=false, use_regex=false)]. Qwen's "
            "tokenizer.json also has an NFC normalizer; it is not applied here, and every test text "
            "is already NFC, so the ids are the same as with it. No BOS/EOS is added. "
            "decodes_to_text records whether ByteLevel-decoding the ids (special tokens kept) gives "
            "back the text exactly."
        ),
        "special_token_ids": special_ids,
        "all_cases_decode_to_text": not not_round_trip,
        "cases": cases,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_fixture(args.out, fixture)
    print(f"wrote {len(cases)} cases to {args.out}")


if __name__ == "__main__":
    main()
