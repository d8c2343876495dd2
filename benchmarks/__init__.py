"""`make bench`: the bridge's figures, each next to its baseline measured in the same run (see __main__)."""
