"""The post-training line: stages run in order, each from the previous stage's chosen checkpoint."""
