"""Finding the passages that can answer a question.

Ingestion turns documents into heading-aware chunks with embeddings; a search backend (the embedded
SQLite engine or Elasticsearch) stores them; hybrid retrieval fuses BM25 and dense results.
Nothing here knows about Slack, the LLM or the feedback store.
"""
