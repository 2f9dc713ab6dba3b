"""Models of genlift: recommenders, retrieval, demand and credit models, backtests,
inventory math and the lift experiment. Imports from features and augment only."""
