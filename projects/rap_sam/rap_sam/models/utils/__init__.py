from .class_embeddings import load_class_embeddings, random_class_embeddings
from .query_linker import QueryLinker

__all__ = ['QueryLinker', 'load_class_embeddings', 'random_class_embeddings']
