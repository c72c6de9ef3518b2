"""`tunefactory webchat`: a Gradio chat page on the same ChatModel as `chat` and `api`."""
