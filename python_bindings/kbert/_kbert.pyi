"""Type stubs of kbert._kbert (the native module)."""
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple, Union, overload

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
    hop: int  # 1: a fact of the mention; 2: a fact of a hop-1 object ...
    parent: int  # index of the parent fact in the same list; -1 at hop 1

class Prediction(NamedTuple):
    label: str
    probability: float
    probs: npt.NDArray[np.float32]
    injected: List[InjectedTriple]

class Entity(NamedTuple):
    type: str
    start: int  # text[start:end] is the entity
    end: int
    text: str
    score: float

class Tagged:
    tokens: List[str]
    tags: List[str]
    starts: List[int]
    entities: List[Entity]
    injected: List[InjectedTriple]

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
    def add(self, subject: str, relation: str, object: str, score: Optional[float] = None) -> None: ...
    def save_compiled(self, path: str) -> None: ...
    @property
    def is_compiled(self) -> bool: ...
    @property
    def has_scores(self) -> bool: ...
    def lookup(self, surface: str, limit: int = ...) -> List[Tuple[str, str]]: ...
    def triples(self) -> List[Tuple[str, str, str]]: ...
    def __len__(self) -> int: ...

class Tokenizer:
    def __init__(self, kind: str = "char", vocab: str = "", spm_model: str = "",
                 lower_case: Optional[bool] = None) -> None: ...
    @property
    def kind(self) -> str: ...
    @property
    def vocab_size(self) -> int: ...
    def tokenize(self, text: str) -> List[str]: ...
    def encode(self, text: str) -> npt.NDArray[np.int32]: ...

class TreeOptions:
    max_entities: int
    max_length: int
    predicate: bool
    add_special: bool
    hops: int
    max_facts: int
    def __init__(self, max_entities: int = 2, max_length: int = 256, predicate: bool = False,
                 truncation: str = "kbert", add_special: bool = False, hops: int = 1,
                 max_facts: int = 0) -> None: ...

class SentenceTreeBuilder:
    @overload
    def __init__(self, kg: Optional[KnowledgeGraph], tokenizer: str = "char", vocab: str = "", spm_model: str = "",
                 options: TreeOptions = ...) -> None: ...
    @overload
    def __init__(self, kg: Optional[KnowledgeGraph], tokenizer: Tokenizer, options: TreeOptions = ...) -> None: ...
    def build(self, text: str, text_b: Optional[str] = None) -> SentenceTree: ...
    def build_batch(self, texts: List[str], threads: int = 0) -> List[SentenceTree]: ...

class FactAttribution(NamedTuple):
    entity: str
    relation: str
    object: str
    start: int
    end: int
    prob_without: float
    change: float
    label_without: str
    hop: int
    parent: int
    gate: Optional[float]

class Explanation(NamedTuple):
    label: str
    probability: float
    probs: npt.NDArray[np.float32]
    facts: List[FactAttribution]

class Model:
    @staticmethod
    def load(dir: str, kg: Optional[str] = None, batch_size: int = 32, threads: int = 0,
             precision: str = "auto", max_tokens: int = 0) -> "Model": ...
    def predict(self, texts: List[str]) -> Union[List[str], List[List[Entity]]]: ...
    def tag(self, texts: List[str]) -> List[Tagged]: ...
    @property
    def is_tagger(self) -> bool: ...
    @property
    def precision(self) -> str: ...
    def predict_proba(self, texts: List[str]) -> npt.NDArray[np.float32]: ...
    def embed(self, texts: List[str], pooling: str = "mean", normalize: bool = False) -> npt.NDArray[np.float32]: ...
    def predict_details(self, texts: List[str]) -> List[Prediction]: ...
    def explain(self, texts: List[str]) -> List[Explanation]: ...
    def tree(self, text: str) -> SentenceTree: ...
    @property
    def labels(self) -> List[str]: ...
    @property
    def hidden_size(self) -> int: ...

class Hit(NamedTuple):
    id: str
    score: float
    label: str
    text: str
    row: int

class Index:
    @staticmethod
    def build(model: Model, texts: List[str], ids: Optional[List[str]] = None, labels: Optional[List[str]] = None,
              pooling: str = "mean", store_texts: bool = True) -> "Index": ...
    @staticmethod
    def open(path: str) -> "Index": ...
    def save(self, path: str) -> None: ...
    def search(self, model: Model, texts: List[str], k: int = 5) -> List[List[Hit]]: ...
    def search_vectors(self, vectors: npt.ArrayLike, k: int = 5) -> List[List[Hit]]: ...
    def __len__(self) -> int: ...
    @property
    def dim(self) -> int: ...
    @property
    def ids(self) -> List[str]: ...
    @property
    def labels(self) -> List[str]: ...
    @property
    def vectors(self) -> npt.NDArray[np.float32]: ...
    @property
    def model(self) -> str: ...
    @property
    def pooling(self) -> str: ...

def train(train: str, out: str, *, dev: Optional[str] = None, test: Optional[str] = None,
          model: Optional[str] = None, config: Optional[str] = None, vocab: Optional[str] = None,
          tokenizer: str = "char", kg: Optional[List[str]] = None, epochs: int = 5, batch_size: int = 32,
          accumulation: int = 1, learning_rate: float = 2e-5, warmup: float = 0.1, weight_decay: float = 0.01,
          max_grad_norm: float = 1.0, seed: int = 7, metric: Optional[str] = None, class_weights: str = "none",
          patience: int = 0,
          resume: bool = False, pooling: str = "first", head: str = "kbert", max_length: Optional[int] = None,
          max_entities: Optional[int] = None, predicate: Optional[bool] = None, truncation: Optional[str] = None,
          visible_matrix: bool = True, soft_positions: bool = True, shuffle: bool = True,
          length_grouping: bool = True, threads: int = 0, progress: Union[bool, Callable[[Dict[str, Any]], None]] = True,
          task: str = "classify",
          format: str = "auto", precision: str = "auto", lexical_buckets: int = 0,
          lexical_learning_rate: float = 1e-2, hops: Optional[int] = None,
          max_facts: Optional[int] = None, lexical_fit: str = "joint",
          lexical_c: float = 0.0, lexical_knowledge: bool = False, knowledge_gate: bool = False,
          gate_learning_rate: float = 0.003) -> Dict[str, Any]: ...

def score_facts(kg: KnowledgeGraph, train: str, tokenizer: Tokenizer, *, out: Optional[str] = None,
                min_score: float = 0.0, threads: int = 0) -> List[Dict[str, Any]]: ...

def import_uer(checkpoint: str, config: str, vocab: str, out: str, *, tokenizer: str = "char",
               pooling: str = "first", predicate: bool = False, max_entities: int = 2, max_length: int = 256,
               labels_file: str = "", kg: List[str] = ...) -> None: ...

def import_hf(from_dir: str, out: str, *, labels_file: str = "", kg: List[str] = ..., max_entities: int = 2,
              max_length: int = 256, predicate: bool = False, hops: int = 1, max_facts: int = 0,
              truncation: str = "kbert") -> None: ...
def report(model: Model, data: str, out: str = "report.html", *, baseline: Optional[Model] = None,
           index: Optional[Index] = None, similar: int = 3, title: str = "kbert report") -> Dict[str, Any]: ...

def pretrain(corpus: str, out: str, *, model: Optional[str] = None, config: Optional[str] = None,
             vocab: Optional[str] = None, tokenizer: str = "char", kg: Optional[List[str]] = None,
             max_length: int = 256, max_entities: int = 2, predicate: bool = False, epochs: int = 3,
             batch_size: int = 32, accumulation: int = 1, learning_rate: float = 1e-4, warmup: float = 0.1,
             weight_decay: float = 0.01, max_grad_norm: float = 1.0, seed: int = 7, resume: bool = False,
             stop_after_steps: int = 0, checkpoint_every: int = 200, length_grouping: bool = True,
             objective: str = "mlm", mask_probability: float = 0.15, whole_word: bool = True,
             generator_layers: int = 1, discriminator_weight: float = 50.0, precision: str = "auto",
             threads: int = 0, progress: Union[bool, Callable[[Dict[str, Any]], None]] = True) -> Dict[str, Any]: ...
def evaluate(model: Model, data: str, *, format: str = "auto") -> Dict[str, Any]: ...
def build_vocab(corpus: str, out: str, *, kind: str = "wordpiece", size: int = 8000, min_frequency: int = 2,
                lower_case: bool = True) -> List[str]: ...
def suggest_facts(model: Model, terms: List[Tuple[str, str]], *, parents: Optional[List[str]] = None,
                  relation: str = "subclass of", label: str = "1", top: int = 3, min_score: float = 0.5,
                  skip_known: bool = True, out: Optional[str] = None) -> List[Dict[str, Any]]: ...
