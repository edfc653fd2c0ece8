// Reads a Hugging Face tokenizer (tokenizer.json, with tokenizer_config.json beside it) into the
// VocabData that the byte-level BPE Tokenizer is built from.
//
// Supported: a BPE model with a byte-level pre-tokenizer, in one of the layouts of the families
// the engine runs, each mapped to a PreTokenizer name:
//   Sequence[Split(Qwen2 regex), ByteLevel(use_regex=false)]     -> "qwen2" (Qwen2, Qwen2.5, Qwen3)
//   Sequence[Split(Llama 3 regex), ByteLevel(use_regex=false)]   -> "llama-bpe" (Llama 3, R1 distills)
//   Sequence[Digits(individual_digits), ByteLevel(use_regex)]    -> "smollm" (SmolLM2)
//   ByteLevel(use_regex=true)                                    -> "gpt2"
// Added tokens keep their ids; special ones become CONTROL tokens and the others USER_DEFINED.
// An NFC normalizer is accepted but not applied, so text that is not in NFC can tokenize
// differently (published chat text almost always is). BPE's ignore_merges (Llama 3) is not
// applied either: a piece is always merged, which gives the same ids whenever the vocabulary's
// tokens are reachable through the merges, as they are in trained BPE vocabularies.
#pragma once

#include <string>

#include "formats/tokenizer.h"

namespace lim {

// `dir` contains tokenizer.json and optionally tokenizer_config.json (bos_token, eos_token,
// add_bos_token, chat_template) or chat_template.jinja. Throws lim::Error naming the file and
// the field for a missing file, invalid JSON, an unsupported model, normalizer or
// pre-tokenizer, or ids that do not cover 0..n-1 exactly once.
VocabData read_tokenizer_json(const std::string& dir);

}  // namespace lim
