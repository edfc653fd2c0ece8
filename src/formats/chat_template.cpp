#include "formats/chat_template.h"

#include "common.h"

namespace lim {

namespace {

bool contains(const std::string& text, const char* marker) { return text.find(marker) != std::string::npos; }

// Python's str.lstrip / rstrip / strip with an explicit character set, as the templates use them.
std::string lstrip(const std::string& s, const char* chars) {
  const size_t begin = s.find_first_not_of(chars);
  return begin == std::string::npos ? "" : s.substr(begin);
}
std::string rstrip(const std::string& s, const char* chars) {
  const size_t end = s.find_last_not_of(chars);
  return end == std::string::npos ? "" : s.substr(0, end + 1);
}
std::string strip(const std::string& s, const char* chars) { return lstrip(rstrip(s, chars), chars); }

// Jinja's trim filter (Python str.strip() on ASCII whitespace).
constexpr const char* kWhitespace = " \t\n\r\f\v";

// The text after the last occurrence of `separator`, or all of it (Python split(sep)[-1]).
std::string after_last(const std::string& s, const std::string& separator) {
  const size_t at = s.rfind(separator);
  return at == std::string::npos ? s : s.substr(at + separator.size());
}

void check_roles(const std::vector<ChatMessage>& messages) {
  for (const ChatMessage& m : messages) {
    if (m.role != "system" && m.role != "user" && m.role != "assistant") {
      throw Error("chat message role \"" + m.role + "\" is not supported; use system, user or assistant.");
    }
  }
}

// An assistant turn split as the Qwen3 template splits it: the reasoning is the text before the
// first </think> (after its <think>), and the content is the text after the last </think>.
struct AssistantTurn {
  std::string reasoning;
  std::string content;
};

AssistantTurn split_reasoning(const std::string& content) {
  const size_t close = content.find("</think>");
  if (close == std::string::npos) return {"", content};
  const std::string before = rstrip(content.substr(0, close), "\n");
  return {lstrip(after_last(before, "<think>"), "\n"), lstrip(after_last(content, "</think>"), "\n")};
}

std::string render_qwen3(const std::vector<ChatMessage>& messages, const ChatOptions& options) {
  std::string out;
  if (!messages.empty() && messages[0].role == "system") {
    out += "<|im_start|>system\n" + messages[0].content + "<|im_end|>\n";
  }
  // Reasoning is kept only in assistant turns after the last user query.
  size_t last_query = messages.empty() ? 0 : messages.size() - 1;
  for (size_t i = messages.size(); i-- > 0;) {
    if (messages[i].role == "user") {
      last_query = i;
      break;
    }
  }
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    if (m.role == "user" || (m.role == "system" && i > 0)) {
      out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
    } else if (m.role == "assistant") {
      const AssistantTurn turn = split_reasoning(m.content);
      const bool last = i + 1 == messages.size();
      if (i > last_query && (last || !turn.reasoning.empty())) {
        out += "<|im_start|>assistant\n<think>\n" + strip(turn.reasoning, "\n") + "\n</think>\n\n" +
               lstrip(turn.content, "\n");
      } else {
        out += "<|im_start|>assistant\n" + turn.content;
      }
      out += "<|im_end|>\n";
    }
  }
  if (options.add_generation_prompt) {
    out += "<|im_start|>assistant\n";
    if (!options.enable_thinking) out += "<think>\n\n</think>\n\n";
  }
  return out;
}

std::string render_deepseek_r1(const std::vector<ChatMessage>& messages, const ChatOptions& options) {
  std::string system;
  for (const ChatMessage& m : messages) {
    if (m.role == "system") system = m.content;  // the last system message wins
  }
  std::string out = options.bos_token + system;
  for (const ChatMessage& m : messages) {
    if (m.role == "user") out += "<｜User｜>" + m.content;
    if (m.role == "assistant") out += "<｜Assistant｜>" + after_last(m.content, "</think>") + "<｜end▁of▁sentence｜>";
  }
  if (options.add_generation_prompt) out += "<｜Assistant｜><think>\n";
  return out;
}

std::string render_llama3(const std::vector<ChatMessage>& messages, const ChatOptions& options) {
  std::string out;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (i == 0) out += options.bos_token;
    out += "<|start_header_id|>" + messages[i].role + "<|end_header_id|>\n\n" + strip(messages[i].content, kWhitespace) +
           "<|eot_id|>";
  }
  if (options.add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

}  // namespace

const char* chat_family_name(ChatFamily family) {
  switch (family) {
    case ChatFamily::ChatML: return "ChatML";
    case ChatFamily::Qwen3: return "Qwen3";
    case ChatFamily::DeepSeekR1: return "DeepSeek-R1";
    case ChatFamily::Llama3: return "Llama 3";
  }
  return "unknown";
}

std::optional<ChatFamily> detect_chat_family(const std::string& chat_template) {
  if (contains(chat_template, "<｜Assistant｜>")) return ChatFamily::DeepSeekR1;
  if (contains(chat_template, "<|start_header_id|>")) return ChatFamily::Llama3;
  if (contains(chat_template, "<|im_start|>")) {
    return contains(chat_template, "<think>") ? ChatFamily::Qwen3 : ChatFamily::ChatML;
  }
  return std::nullopt;
}

std::string render_chat(ChatFamily family, const std::vector<ChatMessage>& messages,
                        const std::string& chat_template, const ChatOptions& options) {
  check_roles(messages);
  switch (family) {
    case ChatFamily::Qwen3: return render_qwen3(messages, options);
    case ChatFamily::DeepSeekR1: return render_deepseek_r1(messages, options);
    case ChatFamily::Llama3: return render_llama3(messages, options);
    case ChatFamily::ChatML: return format_chatml(messages, chat_template, options.add_generation_prompt);
  }
  LIM_CHECK(false);
  return "";
}

std::string apply_chat_template(const Tokenizer& tokenizer, const std::vector<ChatMessage>& messages,
                                bool add_generation_prompt, bool enable_thinking) {
  const std::string& chat_template = tokenizer.chat_template();
  ChatOptions options;
  options.add_generation_prompt = add_generation_prompt;
  options.enable_thinking = enable_thinking;
  if (tokenizer.bos_id() >= 0) options.bos_token = tokenizer.token_bytes(tokenizer.bos_id());
  const ChatFamily family = detect_chat_family(chat_template).value_or(ChatFamily::ChatML);
  return render_chat(family, messages, chat_template, options);
}

}  // namespace lim
