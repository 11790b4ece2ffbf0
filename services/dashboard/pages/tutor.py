"""Tutor: lesson transcripts, glossaries and plots from runs/lessons/<lesson>/<timestamp>/."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from services.dashboard import data_access
from services.dashboard.components.empty_state import empty_state, problems
from services.dashboard.state import current_paths


def main() -> None:
    paths = current_paths()
    st.title("Tutor")
    lessons = data_access.list_lessons(paths)
    if not lessons:
        empty_state(
            "No lessons yet",
            f"Lessons are read from `{paths.lessons}/<lesson>/<timestamp>/`: `transcript.md` (or `.txt`), "
            "`glossary.json` and `plots/*.png`. Once a lesson is recorded there, it shows up here.",
        )
        return
    labels = {f"{item.lesson} · {item.stamp}": item for item in lessons}
    lesson = labels[st.selectbox("Lesson", list(labels), key="tutor_lesson")]
    problems(lesson.problems)
    transcript, glossary = st.columns([3, 1])
    with transcript:
        st.subheader("Transcript")
        if not lesson.transcript:
            st.caption("No transcript in this lesson.")
        elif lesson.transcript_is_markdown:
            st.markdown(lesson.transcript)
        else:
            st.text(lesson.transcript)
    with glossary:
        st.subheader("Glossary")
        if lesson.glossary:
            terms = pd.DataFrame([{"term": key, "meaning": str(value)} for key, value in lesson.glossary.items()])
            st.dataframe(terms, hide_index=True, width="stretch")
        else:
            st.caption("No glossary.json.")
    if lesson.plots:
        st.subheader("Plots")
        for plot in lesson.plots:
            st.image(str(plot), caption=plot.name, alt=f"Plot {plot.stem} of lesson {lesson.lesson}")


main()
