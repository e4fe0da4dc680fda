"""nbgrader's configuration for the book's course directory (``python tools/editions.py course --out DIR`` copies it
to ``DIR/nbgrader_config.py``). Run nbgrader inside that directory:

    nbgrader generate_assignment cam          # release/cam/cam.ipynb: the student edition of the chapter
    nbgrader autograde cam                    # grade submitted/<student>/cam/cam.ipynb
    nbgrader generate_assignment part1_labs   # every lab of Part I in one short notebook

The labs use nbgrader's default markers (``### BEGIN SOLUTION`` / ``### END SOLUTION`` in solution cells,
``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS`` in test cells) and its Python stub, which raises.
"""
c = get_config()  # noqa: F821 - nbgrader's config loader defines it

c.CourseDirectory.course_id = "car-book"
c.CourseDirectory.root = "."
c.CourseDirectory.db_url = "sqlite:///gradebook.db"
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
# A whole chapter runs when it is graded: the toy world needs well under a minute per chapter on a laptop.
c.Execute.timeout = 600
c.Execute.allow_errors = True  # a stub that raises costs its tests' points, not the rest of the notebook
