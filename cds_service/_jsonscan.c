/*
 * cds_service._jsonscan: one pass over a JSON text, at C speed, for what orjson does not
 * tell (cds_service.http reads every request body with it).
 *
 *     scan(text: bytes | str) -> (deepest, longest_digit_run)
 *
 * deepest: how many levels of arrays and objects nest at the deepest point, counting the
 *     brackets outside strings. Exact for a valid JSON text: a string starts at a quote
 *     outside strings and ends at the next quote that no backslash escapes (the byte after
 *     a backslash in a string is never read as structure). For a text that is not JSON the
 *     figure means nothing; the caller parses first.
 * longest_digit_run: the longest run of ASCII digits 0-9 anywhere in the text, inside
 *     strings or not (an integer of 19 digits or more is one orjson would read as a float).
 *
 * A str is read as UTF-8 (no byte of a multi-byte UTF-8 character is ASCII, so both answers
 * are those of the text); a str with a lone surrogate has no UTF-8 form and raises
 * UnicodeEncodeError. Any other object that offers a byte buffer is read as its bytes.
 * The loop holds no Python object: it runs with the GIL released.
 *
 * tests/test_jsonscan.py holds both answers to plain Python references on generated JSON
 * and on arbitrary bytes.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

enum { OTHER, DIGIT, QUOTE, BACKSLASH, OPEN, CLOSE };

/* The kind of every byte; filled in once, when the module is imported. */
static unsigned char kind[256];

static void scan_bytes(const unsigned char *p, const unsigned char *end, Py_ssize_t *deepest,
                       Py_ssize_t *longest_run) {
    Py_ssize_t depth = 0, deepest_seen = 0, run = 0, longest = 0;
    int in_string = 0, escaped = 0;
    for (; p < end; p++) {
        unsigned char k = kind[*p];
        if (k == DIGIT) {
            if (++run > longest) longest = run;
            escaped = 0;
            continue;
        }
        run = 0;
        if (escaped) { /* the byte after a backslash inside a string */
            escaped = 0;
            continue;
        }
        if (k == OTHER) continue;
        if (in_string) {
            if (k == BACKSLASH) escaped = 1;
            else if (k == QUOTE) in_string = 0;
            continue;
        }
        if (k == QUOTE) in_string = 1;
        else if (k == OPEN) {
            if (++depth > deepest_seen) deepest_seen = depth;
        } else if (k == CLOSE) depth--;
    }
    *deepest = deepest_seen;
    *longest_run = longest;
}

static PyObject *scan(PyObject *module, PyObject *text) {
    Py_ssize_t deepest, longest_run;
    (void)module;
    if (PyUnicode_Check(text)) {
        Py_ssize_t size;
        const char *utf8 = PyUnicode_AsUTF8AndSize(text, &size); /* kept by the str */
        if (utf8 == NULL) return NULL;
        const unsigned char *start = (const unsigned char *)utf8;
        Py_BEGIN_ALLOW_THREADS
        scan_bytes(start, start + size, &deepest, &longest_run);
        Py_END_ALLOW_THREADS
    } else {
        Py_buffer view;
        if (PyObject_GetBuffer(text, &view, PyBUF_SIMPLE) < 0) return NULL;
        const unsigned char *start = (const unsigned char *)view.buf;
        Py_BEGIN_ALLOW_THREADS
        scan_bytes(start, start + view.len, &deepest, &longest_run);
        Py_END_ALLOW_THREADS
        PyBuffer_Release(&view);
    }
    return Py_BuildValue("(nn)", deepest, longest_run);
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_O,
     "scan(text, /)\n--\n\n"
     "(deepest nesting of arrays and objects, longest run of ASCII digits) of a JSON text "
     "(bytes or str)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT, "cds_service._jsonscan",
    "One pass over a JSON text: its deepest nesting and its longest run of digits.", -1,
    methods,
};

PyMODINIT_FUNC PyInit__jsonscan(void) {
    for (int c = '0'; c <= '9'; c++) kind[c] = DIGIT;
    kind['"'] = QUOTE;
    kind['\\'] = BACKSLASH;
    kind['['] = kind['{'] = OPEN;
    kind[']'] = kind['}'] = CLOSE;
    return PyModule_Create(&module_definition);
}
