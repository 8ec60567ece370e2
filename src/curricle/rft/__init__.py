"""Rejection-sampling fine-tuning: sample, grade, keep the successes as a fine-tuning task."""
