"""``python -m ringfence``: the same as the ``ringfence`` command."""

from ringfence.cli import main

if __name__ == "__main__":
    main()
