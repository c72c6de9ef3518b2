"""The web board (`tunefactory webui`): a Gradio page that writes configs and runs them as jobs on disk."""
