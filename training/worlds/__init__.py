"""Market generators other than `training.simulator`: evaluation worlds whose generative stories differ on
purpose, so a pipeline that only learnt the first simulator's story shows it (`training.crossworld`).

Nothing here is used to train or tune the product: a world in this package is for measuring only.
"""
