"""paperchat's core: settings, types, embeddings, store, retrieval and answering."""

__version__ = "0.1.0"
