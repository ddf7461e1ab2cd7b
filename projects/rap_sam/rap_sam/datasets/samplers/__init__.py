"""Samplers for joint training on images, videos and prompts."""
from .task_batch_sampler import TASKS, TaskBatchSampler

__all__ = ['TASKS', 'TaskBatchSampler']
