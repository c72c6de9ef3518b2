"""A Gradio chat page on a ChatModel: streamed answers, a system prompt and the sampling settings.

``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT`` (Gradio's own variables) choose where it listens;
``GRADIO_SHARE=1`` asks Gradio for a public link, as in LLaMA-Factory.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..env_flags import env_flag


def message_text(content) -> str:
    """Gradio history content is a string, or a list of parts ({"type": "text", "text": ...})."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
    if isinstance(content, dict):
        return str(content.get("text", ""))
    return str(content)


def make_respond(chat_model):
    """The ChatInterface callback: history + new message -> the answer so far, as it streams."""

    def respond(message, history: list[dict], system: str, temperature: float, top_p: float,
                max_new_tokens: int) -> Iterator[str]:
        messages = [{"role": turn["role"], "content": message_text(turn["content"])} for turn in history
                    if turn.get("role") in ("user", "assistant")]
        messages.append({"role": "user", "content": message_text(message)})
        answer = ""
        for piece in chat_model.stream_chat(messages, system=system or None, temperature=temperature, top_p=top_p,
                                            max_new_tokens=int(max_new_tokens)):
            answer += piece
            yield answer

    return respond


def create_demo(chat_model):
    import gradio as gr

    g = chat_model.config.generating
    settings = [
        gr.Textbox(label="System prompt", value=chat_model.config.data.default_system or ""),
        gr.Slider(0.0, 1.5, value=g.temperature, step=0.01, label="Temperature (0: greedy)"),
        gr.Slider(0.01, 1.0, value=g.top_p, step=0.01, label="Top-p"),
        gr.Slider(1, 4096, value=g.max_new_tokens, step=1, label="Max new tokens"),
    ]
    return gr.ChatInterface(make_respond(chat_model), additional_inputs=settings,
                            title=f"TuneFactory: {chat_model.config.model.model_name_or_path}", api_name="chat")


def run_webchat(chat_model) -> None:
    demo = create_demo(chat_model)
    demo.queue().launch(share=env_flag("GRADIO_SHARE"), inbrowser=False)
