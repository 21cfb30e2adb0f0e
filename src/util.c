/* Small helpers every layer of the extension uses, below all of them: reading
 * the fields of the NamedTuples tls_nss hands over, placing the keyword
 * arguments of fast calls, and NSPR's once-only set-up run without the GIL. */
#include "config.h"
#include "tls_nss.h"

PyObject *
tls_nss_get_field(PyObject *obj, const char *name)
{
    PyObject *value = PyObject_GetAttrString(obj, name);
    if (value == NULL && PyErr_ExceptionMatches(PyExc_AttributeError)) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%.100s has no field '%s'", Py_TYPE(obj)->tp_name, name);
    }
    return value;
}

int
tls_nss_place_args(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                   const char *const *names, Py_ssize_t least, Py_ssize_t count,
                   PyObject **placed, const char *function)
{
    Py_ssize_t keywords = kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0;

    if (nargs > count) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most %zd arguments (%zd given)", function,
                     count, nargs + keywords);
        return -1;
    }
    for (Py_ssize_t i = 0; i < count; i++)
        placed[i] = i < nargs ? args[i] : NULL;
    for (Py_ssize_t k = 0; k < keywords; k++) {
        PyObject *keyword = PyTuple_GET_ITEM(kwnames, k);
        Py_ssize_t i = 0;
        while (i < count && (names[i] == NULL ||
                             !PyUnicode_Check(keyword) ||
                             PyUnicode_CompareWithASCIIString(keyword, names[i]) != 0))
            i++;
        if (i == count) {
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%S'",
                         function, keyword);
            return -1;
        }
        if (placed[i] != NULL) {
            PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'",
                         function, names[i]);
            return -1;
        }
        placed[i] = args[nargs + k];
    }
    for (Py_ssize_t i = 0; i < least; i++) {
        if (placed[i] == NULL) {
            if (names[i] != NULL)
                PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s'", function,
                             names[i]);
            else
                PyErr_Format(PyExc_TypeError, "%s() takes at least %zd arguments (%zd given)",
                             function, least, nargs + keywords);
            return -1;
        }
    }
    return 0;
}

PRStatus
tls_nss_call_once(PRCallOnceType *once, PRCallOnceWithArgFN setup, void *arg)
{
    PRStatus status;

    Py_BEGIN_ALLOW_THREADS
    status = PR_CallOnceWithArg(once, setup, arg);
    Py_END_ALLOW_THREADS
    return status;
}
