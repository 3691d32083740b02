"""What produces the text models: masked-language pre-training, fine-tuning, the review model's training run."""
