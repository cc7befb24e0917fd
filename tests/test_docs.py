

def test_no_internal_work_item_numbers():
    """Users cannot look up the project's internal work items; the docs say what was done, not under which number."""
    for doc in DOCS:
        found = re.findall(r"\b[Ii]ssues? ?#?\d+|\bissue-\d+", _text(doc))
        assert not found, f"{doc.relative_to(ROOT)} names internal work items: {found}"
