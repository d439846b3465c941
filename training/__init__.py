"""Fine-tuning, rewards and evaluation on any dataset in the published data contract."""
