"""Tags by name and Heymarket lists: the rules (`rules.py`) and the steps of a batch (`steps.py`)."""
