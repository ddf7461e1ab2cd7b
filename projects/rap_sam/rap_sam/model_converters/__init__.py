from .official_checkpoint import convert_key, convert_state_dict

__all__ = ['convert_key', 'convert_state_dict']
