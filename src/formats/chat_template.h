// Chat prompts rendered per model family, matching what transformers' apply_chat_template
// renders from each family's published Jinja template (no Jinja engine is involved).
//
// Families, recognised from markers in the template text:
//   Qwen3       ChatML with reasoning: an assistant turn after the last user message keeps its
//               <think> block; earlier ones lose it. enable_thinking = false closes an empty
//               block in the generation prompt.
//   DeepSeekR1  the R1 distills: BOS, the system text, <｜User｜>/<｜Assistant｜> turns with the
//               reasoning removed, and a generation prompt that opens <think>.
//   Llama3      <|start_header_id|>role<|end_header_id|> turns with trimmed content (Llama 3.0;
//               the Llama 3.1 template's date header and tools are not rendered).
//   ChatML      SmolLM2, Qwen2 and Qwen2.5: format_chatml, with the template's default system.
// Tool calls and tool messages are not supported in any family.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "formats/tokenizer.h"

namespace lim {

enum class ChatFamily { ChatML, Qwen3, DeepSeekR1, Llama3 };

const char* chat_family_name(ChatFamily family);

// Returns the family whose markers the template has, or nothing for an unrecognised template.
std::optional<ChatFamily> detect_chat_family(const std::string& chat_template);

struct ChatOptions {
  bool add_generation_prompt = true;
  bool enable_thinking = true;  // Qwen3 only; the other families ignore it, as their templates do
  std::string bos_token;        // text of the BOS token, for families whose template writes it
};

// Renders the conversation. `chat_template` is the model's template text (ChatML reads its
// default system message from it). Throws lim::Error for a role other than system, user and
// assistant.
std::string render_chat(ChatFamily family, const std::vector<ChatMessage>& messages,
                        const std::string& chat_template, const ChatOptions& options);

// Renders with the family of the tokenizer's own template (ChatML when it has none or an
// unrecognised one) and its BOS text. The result already contains BOS where the template writes
// it, so callers encode it with parse_special and add no BOS of their own, as transformers does.
std::string apply_chat_template(const Tokenizer& tokenizer, const std::vector<ChatMessage>& messages,
                                bool add_generation_prompt = true, bool enable_thinking = true);

}  // namespace lim
