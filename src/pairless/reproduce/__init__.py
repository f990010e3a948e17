"""`pairless reproduce`: one command per published row that pairless can train (rows.py), trained with the
paper's recipe and evaluated with its protocol (run.py), its cost told up front (cost.py), the result
written as a table (table.py), and a smoke run of every row on the CPU (smoke.py)."""
