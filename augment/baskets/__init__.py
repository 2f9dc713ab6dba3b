"""Synthetic users with baskets: a tabular profile plus a set of distinct item ids.

:class:`BasketGenerator` learns from an ``interactions`` table (and, optionally, the
``users`` table with the profile attributes) and makes new users. A synthetic user is

1. a **profile**: a real training profile drawn at random (bootstrap), with small Gaussian
   jitter on continuous numeric columns (``profile_jitter`` x the column's standard
   deviation, rounded back to integers for integer columns and clipped to the training
   range). Categorical values are copied as they are, so every combination is one that
   exists. (A learned tabular model belongs to ``augment.tabular``; this simple one keeps
   the basket model's evaluation independent of it.)
2. a **basket size**, drawn from the empirical distribution of the number of distinct items
   per training user; when ``conditions`` fix categorical profile values, from the users
   that share those values.
3. a **basket**: ``z ~ N(0, I)`` goes through a decoder conditioned on the profile that
   outputs logits over *all* catalogue items, and the basket is that many *distinct* items
   drawn from the softmax without replacement with the Gumbel top-k trick (vectorised
   over users).

Two decoders:

- ``model="vae"``: a Mult-VAE (Liang et al., 2018): the encoder reads the user's
  L2-normalised binary item vector (with input dropout) and the profile; the decoder maps
  ``(z, profile)`` to a multinomial over items; the loss is the multinomial log-likelihood
  plus ``beta`` x KL, with ``beta`` annealed linearly from 0 over the first epochs.
- ``model="gan"``: a WGAN-GP. The generator maps ``(z, profile)`` to item logits; a fake
  basket is the Gumbel top-k multi-hot vector of the real user's basket size, divided by
  that size (so real and fake inputs have the same form), with a straight-through gradient
  through the softmax. The critic reads ``(basket vector, profile)``.

Profile encoding for the networks (:class:`~augment.encoding.ProfileEncoder`): numeric
columns are standardised (missing -> 0), categorical columns one-hot over their
``MAX_CATEGORIES`` most frequent values plus an "other" slot. With
``profile_columns=None`` every users column except ``user_id`` is used, except categorical
columns with more than ``MAX_CATEGORIES`` distinct values (a zip code) and date/time
columns, which are dropped with a :class:`~features.errors.GenliftWarning`; list them in
``profile_columns`` to keep them (they are then bucketed as above).

Training keeps the epoch whose sampled baskets best match held-out training users
(:func:`augment.quality_baskets.fidelity_score`: popularity Spearman and PMI agreement),
not the one with the lowest loss.

Interactions of synthetic users have ``ts`` drawn from the training timestamps'
distribution (inverse CDF over 1001 quantiles), ``qty = 1.0`` and ``value`` resampled from
the training values of the same item (1.0 when the training frame has no ``value``).

Privacy note: the artifact stores the training profiles (they are resampled) and the
quantiles / per-item values above; treat it like the training data.

Modules: ``generator`` (fitting, in the shared epoch loop, and sampling), ``profiles``
(profile columns, resampling, conditions), ``interactions`` (timestamps, values, store
tables) and ``networks`` (the torch modules and Gumbel top-k sampling).
"""

from augment.baskets.generator import BasketGenerator
from augment.baskets.interactions import to_store_frames

__all__ = ["BasketGenerator", "to_store_frames"]
