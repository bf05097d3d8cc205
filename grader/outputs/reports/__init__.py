"""Reports of a run: results.json data (`serialize`), the HTML site (`html`), and exports
(`exports`: CSV, Gradescope, and `grader check`'s text, JSON, JUnit and GitHub formats).
"""
