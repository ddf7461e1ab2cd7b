from .match_costs import BinaryCrossEntropyCost

__all__ = ['BinaryCrossEntropyCost']
