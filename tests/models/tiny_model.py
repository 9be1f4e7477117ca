"""A tiny random-weight GPT-2 and a word-level tokenizer, built offline in well under a second.

Words decode as words joined by spaces, so greedy outputs are readable and stop strings can
be chosen from them.  Used by the hf tests (CPU) and the vllm tests (GPU).
"""

from __future__ import annotations

from pathlib import Path

WORDS = (
    "def return if else for in while and or not pass import from class print "
    "x y z a b n i j k result value list dict int str True False None "
    "( ) : , . = + - * / [ ] == < > 0 1 2 3"
).split()

CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m.role }} : {{ m.content }} . {% endfor %}"
    "{% if add_generation_prompt %}assistant :{% endif %}"
)


def build_tiny_model(folder: Path, *, chat_template: str | None = None, seed: int = 0) -> Path:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<eos>": 1}
    for word in WORDS:
        vocab.setdefault(word, len(vocab))
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="<unk>", eos_token="<eos>", pad_token="<eos>"
    )
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(folder)
    config = GPT2Config(
        vocab_size=len(vocab),
        n_positions=256,
        n_embd=32,
        n_layer=1,
        n_head=2,
        bos_token_id=1,
        eos_token_id=1,
        pad_token_id=1,
    )
    torch.manual_seed(seed)
    GPT2LMHeadModel(config).save_pretrained(folder)
    return folder
