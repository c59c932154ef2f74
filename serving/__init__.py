"""Turning retrieved passages into a cited answer through an OpenAI-compatible server.

The same client code talks to vLLM (production, with a LoRA adapter) and to the local llama.cpp
server that Bron starts on the embedded default. Knows retrieval's types; knows nothing of Slack.
"""
