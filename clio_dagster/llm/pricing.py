"""Cost of Claude calls from a configurable price table (USD per million tokens)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, Field

# Batch requests are billed at half the interactive price (Message Batches API).
BATCH_DISCOUNT = 0.5


class ModelPrice(BaseModel):
    input: float = Field(ge=0)
    output: float = Field(ge=0)
    # Prompt caching: writing the cache costs 1.25x input, reading it 0.1x input.
    cache_write: float | None = None
    cache_read: float | None = None

    def write_price(self) -> float:
        return self.cache_write if self.cache_write is not None else self.input * 1.25

    def read_price(self) -> float:
        return self.cache_read if self.cache_read is not None else self.input * 0.1


# Defaults by model family; override with CLIO_CLAUDE_PRICES (JSON: {"model-or-family": {...}}).
DEFAULT_PRICES: dict[str, ModelPrice] = {
    "haiku": ModelPrice(input=1.0, output=5.0),
    "sonnet": ModelPrice(input=3.0, output=15.0),
    "opus": ModelPrice(input=5.0, output=25.0),
}


def price_for(model: str, prices: dict[str, ModelPrice]) -> ModelPrice:
    """Exact model id first, then its family; unknown models get the dearest price so budgets stay safe."""
    if model in prices:
        return prices[model]
    for family, price in prices.items():
        if family in model:
            return price
    return max(prices.values(), key=lambda p: p.output)


@dataclass(frozen=True)
class TokenUsage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0

    def cost(self, price: ModelPrice, batch: bool = False) -> float:
        dollars = (
            self.input_tokens * price.input
            + self.output_tokens * price.output
            + self.cache_write_tokens * price.write_price()
            + self.cache_read_tokens * price.read_price()
        ) / 1_000_000
        return dollars * (BATCH_DISCOUNT if batch else 1.0)
