"""Answering many prompts at once on llama.cpp: one decode call advances every prompt.

On a CPU, a forward pass over one token is bound by reading the weights, so passing one token
for each of many sequences costs little more than one (measured on 2 cores: ~25 tokens/s for one
sequence, ~65 tokens/s over 32). `ParallelContext` keeps up to `n_parallel` sequences in one
llama.cpp context: the prompts' shared prefix (system prompt, instructions, few-shot examples)
is evaluated once and belongs to every sequence (a unified KV cache), and stays cached for the
next call (the few-shot examples of labeling); then each prompt's own suffix; then, step by step,
the tokens each sequence asks for next. With `PrefixStates`, a prefix's KV state is also kept on
disk, so the next process (the next weasel step, a resumed run) loads it instead of evaluating it
again: ~13 s for the 1,100 tokens of the labeling prompt's instructions and examples on 2 cores.

What a sequence asks for is a *walk*: a generator that yields the tokens to evaluate next and
receives the batch index of the last one's logits; its return value is the answer. Two walks:
- `sample_walk`: sampling under a JSON grammar with its own `Sampler` and seed (top-k, top-p,
  min-p, temperature, as `Llama.create_chat_completion` samples), one token per step;
- `ChoiceDecoder.walk` (choice_decoding.py): a label-set answer, forced tokens queued in bulk.
An answer depends on its prompt and seed, not on which prompts share its batch (up to the
floating-point rounding of batched matrix products).
"""
import ctypes
import hashlib
import math
import os
from pathlib import Path
from typing import Generator, List, Optional, Sequence

import llama_cpp
import numpy as np

Walk = Generator[List[int], int, object]  # yields tokens to evaluate, receives the logits' batch index


def chat_formatter(llm):
    """The model's own chat template (as `Llama.create_chat_completion` applies it)."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    eos = llm.token_eos()
    vocab = llama_cpp.llama_model_get_vocab(llm.model)

    def text(token: int) -> str:
        return llama_cpp.llama_vocab_get_text(vocab, token).decode("utf-8")

    return Jinja2ChatFormatter(
        template=llm.metadata["tokenizer.chat_template"],
        eos_token=text(eos),
        bos_token=text(llm.token_bos()) if llm.token_bos() != -1 else "",
        stop_token_ids=[eos],
    )


def chat_tokens(llm, formatter, messages) -> List[int]:
    prompt = formatter(messages=messages).prompt
    return llm.tokenize(prompt.encode("utf8"), add_bos=False, special=True)


class PrefixStates:
    """KV states of evaluated prompt prefixes, one file each in `folder`, for one model file,
    llama.cpp version and attention kind; the `keep` most recently used are kept. A file is named
    by its number of tokens and a hash of the model and the tokens, so a prompt finds the longest
    stored prefix of its own tokens. Loading a state gives the numbers that evaluating the tokens
    gave. `flash_attn`: the contexts' llama.cpp flash-attention type, which decides how the KV cache
    is laid out (a state of the other layout does not load: "incompatible V transposition")."""

    def __init__(self, folder: Path, model_path: Path, flash_attn: int, keep: int = 8, min_tokens: int = 256):
        stat = Path(model_path).stat()
        self.folder, self.keep, self.min_tokens = Path(folder), keep, min_tokens
        self.model = (f"{Path(model_path).resolve()}:{stat.st_size}:{stat.st_mtime_ns}:{llama_cpp.__version__}"
                      f":flash_attn={flash_attn}")

    def _path(self, tokens: Sequence[int]) -> Path:
        digest = hashlib.sha256(f"{self.model}:{','.join(map(str, tokens))}".encode()).hexdigest()[:32]
        return self.folder / f"{len(tokens)}-{digest}.kv"

    def stored(self, tokens: Sequence[int]) -> List[int]:
        """The lengths of the stored prefixes of `tokens` (at least `min_tokens`), longest first."""
        lengths = sorted((int(f.name.partition("-")[0]) for f in self.folder.glob("*-*.kv")), reverse=True)
        return [n for n in lengths if self.min_tokens <= n <= len(tokens) and self._path(tokens[:n]).exists()]

    def load(self, ctx, tokens: Sequence[int], seq: int) -> int:
        """Load the longest stored prefix of `tokens` (at least `min_tokens`) into sequence `seq`
        of an empty context; the number of its tokens, 0 if none."""
        for n in self.stored(tokens):
            path = self._path(tokens[:n])
            stored, count = (llama_cpp.llama_token * n)(), ctypes.c_size_t(0)
            read = llama_cpp.llama_state_seq_load_file(ctx, str(path).encode(), seq, stored, n, ctypes.byref(count))
            if read and count.value == n and list(stored) == list(tokens[:n]):
                os.utime(path)  # recently used
                return n
            llama_cpp.llama_memory_seq_rm(llama_cpp.llama_get_memory(ctx), seq, -1, -1)  # unreadable: evaluate
        return 0

    def save(self, ctx, tokens: Sequence[int], seq: int) -> None:
        """Store sequence `seq`, which holds exactly `tokens`, then drop the least recently used."""
        if len(tokens) < self.min_tokens:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(tokens)
        partial = path.with_suffix(f".{os.getpid()}.partial")
        array = (llama_cpp.llama_token * len(tokens))(*tokens)
        if llama_cpp.llama_state_seq_save_file(ctx, str(partial).encode(), seq, array, len(tokens)):
            partial.replace(path)
        for old in sorted(self.folder.glob("*-*.kv"), key=lambda f: f.stat().st_mtime, reverse=True)[self.keep :]:
            old.unlink(missing_ok=True)


class ParallelContext:
    """A llama.cpp context for up to `n_parallel` sequences on a loaded `llama_cpp.Llama`'s weights;
    with `states`, prompt prefixes are loaded from and stored to disk."""

    def __init__(self, llm, n_parallel: int, n_batch: int = 512, states: Optional[PrefixStates] = None):
        self.llm = llm
        self.n_parallel = n_parallel
        self.n_batch = n_batch
        self.states = states
        self.vocab = llama_cpp.llama_model_get_vocab(llm.model)
        self.ctx, self.n_ctx = None, 0
        self.prefix: List[int] = []  # tokens at positions 0.. that every sequence shares in the cache
        self.batch = llama_cpp.llama_batch_init(n_batch, 0, n_parallel)

    def _reserve(self, n_ctx: int) -> None:
        """A context of at least `n_ctx` tokens (made on first use, made again larger when needed)."""
        if n_ctx <= self.n_ctx:
            return
        if self.ctx:
            llama_cpp.llama_free(self.ctx)
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = -(-n_ctx // 1024) * 1024
        params.n_batch = params.n_ubatch = self.n_batch
        params.n_seq_max = self.n_parallel
        params.kv_unified = True  # the shared prefix is stored once, for every sequence
        # The attention of the model's own context (llama.cpp's default here would be "auto", flash
        # attention on CPU), so that the KV states of prompt prefixes load in either context.
        params.flash_attn_type = self.llm.context_params.flash_attn_type
        params.n_threads = params.n_threads_batch = self.llm.n_threads
        self.ctx = llama_cpp.llama_init_from_model(self.llm.model, params)
        self.prefix = []
        if not self.ctx:
            raise RuntimeError(f"llama.cpp could not make a context of {params.n_ctx} tokens for {self.n_parallel} sequences")
        self.n_ctx = params.n_ctx

    def close(self) -> None:
        if self.ctx:
            llama_cpp.llama_free(self.ctx)
            self.ctx = None
        if self.batch is not None:
            llama_cpp.llama_batch_free(self.batch)
            self.batch = None

    def __del__(self):
        self.close()

    def _decode(self, items: List[tuple]) -> None:
        """Evaluate (token, position, sequence ids, wants logits) items in one call."""
        batch = self.batch
        batch.n_tokens = len(items)
        for i, (token, pos, seqs, logits) in enumerate(items):
            batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = token, pos, len(seqs), logits
            for k, seq in enumerate(seqs):
                batch.seq_id[i][k] = seq
        code = llama_cpp.llama_decode(self.ctx, batch)
        if code != 0:
            raise RuntimeError(f"llama_decode failed with code {code} ({self.n_parallel} sequences, context of {self.n_ctx} tokens)")

    def logits(self, index: int) -> np.ndarray:
        return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self.ctx, index), shape=(llama_cpp.llama_vocab_n_tokens(self.vocab),))

    def run(self, prompts: Sequence[List[int]], walks: Sequence[Walk], answer_tokens: int) -> list:
        """Each prompt continued by its walk, all together; the walks' answers in prompt order.
        `answer_tokens`: the most tokens a walk adds (to size the context)."""
        if not 0 < len(prompts) <= self.n_parallel or len(walks) != len(prompts):
            raise ValueError(f"{len(prompts)} prompts and {len(walks)} walks for {self.n_parallel} parallel sequences")
        shared = 0  # the common prefix, evaluated once for all sequences (>= 1 token left per prompt)
        while shared < min(map(len, prompts)) - 1 and len({p[shared] for p in prompts}) == 1:
            shared += 1
        # Room for a full set of sequences as long as these (in steps of 64 tokens), so that a short
        # first call (a warm-up) does not leave a context to be made again, its prefix evaluated again.
        room = -(-(max(len(p) for p in prompts) - shared + answer_tokens) // 64) * 64
        self._reserve(shared + self.n_parallel * room)
        keep = 0  # of the prefix still in the cache from the last call (e.g. few-shot examples)
        while keep < min(shared, len(self.prefix)) and self.prefix[keep] == prompts[0][keep]:
            keep += 1
        memory = llama_cpp.llama_get_memory(self.ctx)
        llama_cpp.llama_memory_seq_rm(memory, -1, keep, -1)  # every sequence's rest
        everyone = list(range(self.n_parallel))
        if self.states is not None and not keep and shared:
            keep = self.states.load(self.ctx, prompts[0][:shared], 0)
            if keep:  # a loaded prefix belongs to every sequence
                for seq in everyone[1:]:
                    llama_cpp.llama_memory_seq_cp(memory, 0, seq, -1, -1)
        known = keep
        for start in range(keep, shared, self.n_batch):
            self._decode([(prompts[0][p], p, everyone, False) for p in range(start, min(shared, start + self.n_batch))])
        self.prefix = list(prompts[0][:shared])
        if self.states is not None and known < shared:
            self.states.save(self.ctx, self.prefix, 0)
        queue = {s: list(prompt[shared:]) + next(walk) for s, (prompt, walk) in enumerate(zip(prompts, walks))}
        position, answers = [shared] * len(prompts), [None] * len(prompts)
        while queue:
            items = []
            for s, tokens in queue.items():
                if not tokens:
                    raise ValueError("a walk asked for logits without a token to evaluate")
                items += [(t, position[s] + k, [s], k == len(tokens) - 1) for k, t in enumerate(tokens)]
                position[s] += len(tokens)
            queue = {}
            for start in range(0, len(items), self.n_batch):  # a sequence's logits are read right after its call
                chunk = items[start : start + self.n_batch]
                self._decode(chunk)
                for i, (_, _, (s,), last) in enumerate(chunk):
                    if last:
                        try:
                            queue[s] = walks[s].send(i)
                        except StopIteration as done:
                            answers[s] = done.value
        return answers

    def sample_walk(self, sampler, max_tokens: int) -> Walk:
        """Sample until an end-of-generation token or `max_tokens`; the answer is the text."""
        tokens: List[int] = []
        index = yield []
        while True:
            token = sampler.sample(self.ctx, index)
            if llama_cpp.llama_vocab_is_eog(self.vocab, token):
                break
            tokens.append(token)
            if len(tokens) >= max_tokens:
                break
            index = yield [token]
        return self.llm.detokenize(tokens).decode("utf8", errors="replace")

    def sample(self, prompts: Sequence[List[int]], seeds: Sequence[int], grammar: Optional[str],
               temperature: float, max_tokens: int) -> List[str]:
        """Sampled answers to `prompts`, each with its seed."""
        samplers = [Sampler(self.vocab, grammar, temperature, seed) for seed in seeds]
        try:
            return self.run(prompts, [self.sample_walk(s, max_tokens) for s in samplers], max_tokens)
        finally:
            for sampler in samplers:
                sampler.close()


class Sampler:
    """One sequence's sampler: top-k, top-p, min-p, temperature and its seed (greedy at temperature
    0), under a GBNF grammar. As llama.cpp's own common sampler does, the grammar first checks only
    the sampled token and is applied to the whole vocabulary only when it rejects it: checking
    ~150k tokens against a JSON grammar at every step took 29 ms a token, about the decode's cost."""

    def __init__(self, vocab, grammar: Optional[str], temperature: float, seed: int,
                 top_k: int = 40, top_p: float = 0.95, min_p: float = 0.05):
        def chain(*steps):
            made = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
            for step in steps:
                llama_cpp.llama_sampler_chain_add(made, step)
            return made

        def choose():
            if temperature <= 0:
                return [llama_cpp.llama_sampler_init_greedy()]
            return [llama_cpp.llama_sampler_init_top_k(top_k), llama_cpp.llama_sampler_init_top_p(top_p, 1),
                    llama_cpp.llama_sampler_init_min_p(min_p, 1), llama_cpp.llama_sampler_init_temp(temperature),
                    llama_cpp.llama_sampler_init_dist(seed)]

        def grammar_step():
            return llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode(), b"root")

        self.free = chain(*choose())
        self.check = grammar_step() if grammar else None  # the grammar alone, to test one token
        self.constrained = chain(grammar_step(), *choose()) if grammar else None
        self._token = llama_cpp.llama_token_data()
        self._one = llama_cpp.llama_token_data_array(ctypes.pointer(self._token), 1, -1, False)

    def sample(self, ctx, index: int) -> int:
        token = llama_cpp.llama_sampler_sample(self.free, ctx, index)
        if self.check is None:
            return token
        self._token.id, self._token.logit, self._token.p = token, 0.0, 0.0
        self._one.size, self._one.selected = 1, -1
        llama_cpp.llama_sampler_apply(self.check, ctypes.byref(self._one))
        if math.isinf(self._token.logit):  # rejected: sample again under the grammar
            token = llama_cpp.llama_sampler_sample(self.constrained, ctx, index)
        else:
            llama_cpp.llama_sampler_accept(self.constrained, token)
        llama_cpp.llama_sampler_accept(self.check, token)
        return token

    def close(self) -> None:
        for sampler in (self.free, self.check, self.constrained):
            if sampler:
                llama_cpp.llama_sampler_free(sampler)
        self.free = self.check = self.constrained = None
