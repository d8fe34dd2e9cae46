"""Type stubs of kbert._kbert (the native module)."""
from typing import Dict, List, Optional, Tuple, NamedTuple, Any

import numpy as np
import numpy.typing as npt

class InjectedTriple(NamedTuple):
    entity: str
    relation: str
    object: str
    start: int
    end: int
    entity_start: int
    entity_end: int

class SentenceTree:
    tokens: List[str]
    ids: npt.NDArray[np.int32]
    positions: npt.NDArray[np.int32]
    segments: npt.NDArray[np.uint8]
    uer_segments: npt.NDArray[np.int32]
    hf_segments: npt.NDArray[np.int32]
    hard_index: npt.NDArray[np.int32]
    visible: npt.NDArray[np.uint8]
    injected: List[InjectedTriple]

class KnowledgeGraph:
    def __init__(self) -> None: ...
    def load(self, path: str, strict: bool = True, format: str = "auto") -> Dict[str, Any]: ...
    def add(self, subject: str, relation: str, object: str) -> None: ...
    def lookup(self, surface: str, limit: int = ...) -> List[Tuple[str, str]]: ...
    def triples(self) -> List[Tuple[str, str, str]]: ...
    def __len__(self) -> int: ...

class TreeOptions:
    max_entities: int
    max_length: int
    predicate: bool
    add_special: bool
    def __init__(self, max_entities: int = 2, max_length: int = 256, predicate: bool = False,
                 truncation: str = "kbert", add_special: bool = False) -> None: ...

class SentenceTreeBuilder:
    def __init__(self, kg: Optional[KnowledgeGraph], tokenizer: str = "char", vocab: str = "", spm_model: str = "",
                 options: TreeOptions = ...) -> None: ...
    def build(self, text: str, text_b: Optional[str] = None) -> SentenceTree: ...
    def build_batch(self, texts: List[str], threads: int = 0) -> List[SentenceTree]: ...

class Model:
    @staticmethod
    def load(dir: str, kg: Optional[str] = None, batch_size: int = 32, threads: int = 0) -> "Model": ...
    def predict(self, texts: List[str]) -> List[str]: ...
    def predict_proba(self, texts: List[str]) -> npt.NDArray[np.float32]: ...
    def embed(self, texts: List[str], pooling: str = "mean", normalize: bool = False) -> npt.NDArray[np.float32]: ...
    @property
    def labels(self) -> List[str]: ...
