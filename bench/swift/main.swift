print("retrieve-bench: run it through bench/run")
