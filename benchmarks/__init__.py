"""Speed and quality runs against peers; each writes JSON and a markdown table to results/."""
