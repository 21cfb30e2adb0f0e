/* Small helpers every layer of the extension uses, below all of them: reading
 * the fields of the NamedTuples tls_nss hands over, and NSPR's once-only
 * set-up run without the GIL. */
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

PRStatus
tls_nss_call_once(PRCallOnceType *once, PRCallOnceWithArgFN setup, void *arg)
{
    PRStatus status;

    Py_BEGIN_ALLOW_THREADS
    status = PR_CallOnceWithArg(once, setup, arg);
    Py_END_ALLOW_THREADS
    return status;
}
