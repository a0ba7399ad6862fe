"""ringfence: a self-hostable, multi-tenant cloud phone service.

The packages follow the journey of a call (see DESIGN.md): ``transport`` reads bytes,
``guard`` screens the source, ``sip`` parses and runs transactions, ``pbx`` routes the call
through ``policy``, ``fraud`` and ``identity``. ``app`` wires everything together.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
