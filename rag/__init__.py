"""The retrieval chain: settings, types, embeddings, the store and keyword index, retrieval and answering."""
