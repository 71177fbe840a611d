"""numpydoc validation of every public estimator, method and function of nt_sklearn.

As scikit-learn's ``sklearn/tests/test_docstrings.py``, with the checks enforced
written out: ``ENFORCED`` lists every numpydoc check that fails this test,
``IGNORED`` every other one with the reason. A check numpydoc adds later is
neither, and ``test_every_numpydoc_check_is_enforced_or_ignored`` says so.
"""

import inspect

import pytest

import nt_sklearn
import nt_sklearn.baselines
import nt_sklearn.metrics

numpydoc_validate = pytest.importorskip("numpydoc.validate")
from numpydoc.docscrape import ClassDoc  # noqa: E402

ENFORCED = {
    "GL03": "double line break",
    "GL05": "tabs for indentation",
    "GL06": "unknown section",
    "GL07": "sections in the wrong order",
    "GL08": "no docstring",
    "GL09": "deprecation warning not at the start",
    "GL10": "reST directive with a single colon",
    "SS01": "no summary",
    "SS02": "summary does not start with a capital letter",
    "SS03": "summary does not end with a period",
    "SS04": "summary with heading whitespace",
    "SS05": "summary starts with a third-person verb ('Returns' for 'Return')",
    "ES01": "no extended summary (classes and functions; see IGNORED for methods)",
    "PR01": "a parameter of the signature is not documented",
    "PR02": "a documented parameter is not in the signature",
    "PR03": "parameters documented in another order than the signature's",
    "PR04": "a parameter without a type",
    "PR05": "a parameter type ending in a period",
    "PR06": "a parameter type in the long form ('integer', 'boolean', 'string')",
    "PR07": "a parameter without a description",
    "PR08": "a parameter description not starting with a capital letter",
    "PR09": "a parameter description not ending with a period",
    "PR10": "no space before the colon of a parameter",
    "RT01": "no Returns section where the function returns",
    "RT03": "a return value without a description",
    "RT04": "a return description not starting with a capital letter",
    "RT05": "a return description not ending with a period",
    "YD01": "no Yields section where the function yields",
    "SA02": "See Also entry description not ending with a period",
    "SA03": "See Also entry description not starting with a capital letter",
    "SA04": "See Also entry without a description",
    "EX01": "no Examples section (classes and functions; see IGNORED for methods)",
    "SA01": "no See Also section (classes; see IGNORED for methods and functions)",
}

IGNORED = {
    "GL01": "the summary may start on the line of the opening quotes (scikit-learn's choice)",
    "GL02": "a closing blank line is allowed (scikit-learn's choice)",
    "RT02": "the first line of Returns may name the value, as scikit-learn does",
    "SS06": "a summary may take two lines",
}

# Checks that apply to the top-level docstrings only (scikit-learn's filter): methods
# document their parameters and returns, the class docstring holds the story and examples.
METHOD_EXEMPT = {"ES01", "EX01", "SA01"}
# Public functions are small and self-explanatory enough without a See Also section.
FUNCTION_EXEMPT = {"SA01"}


def _public_classes():
    """``{import path: class}``, each class once, under its shortest public path."""
    seen = set()
    for module in (nt_sklearn, nt_sklearn.baselines):
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) and obj not in seen:
                seen.add(obj)
                yield f"{module.__name__}.{name}", obj


def _own_methods(cls):
    """Public methods (and ``__call__``) defined in nt_sklearn; inherited scikit-learn
    methods (``score``, ``get_params``, ``set_fit_request``...) are scikit-learn's docs."""
    for name in sorted(dir(cls)):
        if name.startswith("_") and name != "__call__":
            continue
        obj = getattr(cls, name)
        if isinstance(obj, property) or not callable(obj):
            continue  # properties are documented as attributes of the class
        if getattr(obj, "__module__", "").startswith("nt_sklearn"):
            yield name


CLASSES = dict(_public_classes())
METHODS = [f"{path}.{name}" for path, cls in CLASSES.items() for name in _own_methods(cls)]
FUNCTIONS = [
    f"nt_sklearn.{name}"
    for name in nt_sklearn.__all__
    if inspect.isfunction(getattr(nt_sklearn, name))
] + [f"nt_sklearn.metrics.{name}" for name in nt_sklearn.metrics.__all__]


def _errors(path, exempt):
    result = numpydoc_validate.validate(path)
    errors = [(code, msg) for code, msg in result["errors"] if code in ENFORCED]
    errors = [(code, msg) for code, msg in errors if code not in exempt]
    return result, errors


def _report(path, result, errors):
    lines = "\n".join(f"  {code}: {msg}" for code, msg in errors)
    return f"{path}\n{lines}\n--- docstring ---\n{result['docstring']}"


def test_every_numpydoc_check_is_enforced_or_ignored():
    known = set(numpydoc_validate.ERROR_MSGS)
    assert not set(ENFORCED) & set(IGNORED)
    assert known == set(ENFORCED) | set(IGNORED), known ^ (set(ENFORCED) | set(IGNORED))


def test_something_is_validated():
    assert len(CLASSES) >= 10 and len(METHODS) >= 30 and len(FUNCTIONS) >= 9


@pytest.mark.parametrize("path", list(CLASSES))
def test_class_docstring(path):
    result, errors = _errors(path, exempt=set())
    assert not errors, _report(path, result, errors)


@pytest.mark.parametrize("path", METHODS)
def test_method_docstring(path):
    result, errors = _errors(path, exempt=METHOD_EXEMPT)
    assert not errors, _report(path, result, errors)


@pytest.mark.parametrize("path", FUNCTIONS)
def test_function_docstring(path):
    result, errors = _errors(path, exempt=FUNCTION_EXEMPT)
    assert not errors, _report(path, result, errors)


def _documented_names(section):
    return [name.strip() for entry in section for name in entry.name.split(",")]


@pytest.mark.parametrize("path", list(CLASSES))
def test_parameters_section_names_exactly_the_signature_in_order(path):
    cls = CLASSES[path]
    signature = [
        name for name, p in inspect.signature(cls).parameters.items()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    assert _documented_names(ClassDoc(cls)["Parameters"]) == signature
