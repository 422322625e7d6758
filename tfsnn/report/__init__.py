"""Tables, figures and the claims scorecard from the tidy result CSVs (what the DAG's report
rules run): ours beside the paper's values of the reference CSV, never retyped."""
