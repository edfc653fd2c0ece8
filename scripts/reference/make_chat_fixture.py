#!/usr/bin/env python3
"""Writes tests/fixtures/hf_chat_templates.json: prompts rendered by transformers' chat templating.

The templates are the files in chat_templates/ beside this script:
  qwen3.jinja        Qwen3's template (its tools branch is included but not exercised)
  qwen2_5.jinja      Qwen2.5-Instruct's template without its tools branch
  llama3.jinja       Llama 3 Instruct's template
  deepseek_r1.jinja  the DeepSeek-R1 distills' template without its tool-call branches
  smollm2.jinja      SmolLM2-Instruct's template, copied from the default model's GGUF
NOTE: only smollm2.jinja was copied from a checkpoint. The others were written from the
published templates without downloading a model, so they may differ from a current checkpoint's
template in details. To check one, copy the checkpoint's template into chat_templates/ and rerun.
Each conversation is rendered with apply_chat_template(tokenize=False), with and without the
generation prompt, and for Qwen3 with enable_thinking on, off and unset. The engine renders
each family in C++ and must produce the same text.

Run inside the reference venv (scripts/reference/setup-venv.sh), from the repository root:
    python scripts/reference/make_chat_fixture.py [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

sys.dont_write_bytecode = True

import transformers  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
DEFAULT_OUT = REPO_ROOT / "tests/fixtures/hf_chat_templates.json"
TOKENIZER_DIR = REPO_ROOT / "tests/fixtures/models/hf_qwen3_tied_bf16"

# family: (template file, text of the bos_token variable passed to the template)
FAMILIES = {
    "qwen3": ("qwen3.jinja", ""),
    "qwen2_5": ("qwen2_5.jinja", ""),
    "llama3": ("llama3.jinja", "<|begin_of_text|>"),
    "deepseek_r1": ("deepseek_r1.jinja", "<｜begin▁of▁sentence｜>"),
    "smollm2": ("smollm2.jinja", ""),
}

CONVERSATIONS = {
    "user_only": [{"role": "user", "content": "What is 2 + 2?"}],
    "with_system": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Name a prime number."},
    ],
    "multi_turn": [
        {"role": "system", "content": "You answer in one line."},
        {"role": "user", "content": "Hi!"},
        {"role": "assistant", "content": "<think>\nThe user greets me.\n</think>\n\nHello! How can I help?"},
        {"role": "user", "content": "  Tell me a joke.  "},
    ],
    "ends_with_assistant": [
        {"role": "user", "content": "Count to three."},
        {"role": "assistant", "content": "<think>\nEasy.\n</think>\n\n1, 2, 3."},
    ],
    "assistant_without_thinking": [
        {"role": "user", "content": "First question"},
        {"role": "assistant", "content": "First answer"},
        {"role": "user", "content": "Second question"},
        {"role": "assistant", "content": "\n\nSecond answer"},
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    tok = transformers.AutoTokenizer.from_pretrained(TOKENIZER_DIR)
    cases = []
    for family, (template_file, bos) in FAMILIES.items():
        template = (HERE / "chat_templates" / template_file).read_text()
        thinking_options = [None, True, False] if family == "qwen3" else [None]
        for name, messages in CONVERSATIONS.items():
            for add_generation_prompt in (True, False):
                for thinking in thinking_options:
                    kwargs = {} if thinking is None else {"enable_thinking": thinking}
                    text = tok.apply_chat_template(messages, chat_template=template, tokenize=False,
                                                   add_generation_prompt=add_generation_prompt,
                                                   bos_token=bos, **kwargs)
                    cases.append({
                        "family": family,
                        "conversation": name,
                        "add_generation_prompt": add_generation_prompt,
                        "enable_thinking": thinking,
                        "text": text,
                    })
    fixture = {
        "generator": "scripts/reference/make_chat_fixture.py",
        "transformers": transformers.__version__,
        "templates": {family: (HERE / "chat_templates" / f).read_text() for family, (f, _) in FAMILIES.items()},
        "conversations": CONVERSATIONS,
        "cases": cases,
    }
    args.out.write_text(json.dumps(fixture, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}: {len(cases)} cases", file=sys.stderr)


if __name__ == "__main__":
    main()
