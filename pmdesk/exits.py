"""The exit statuses of every command.

0 when done; 1 when done but some input was refused on its own (the
rejected lines of an import, the good ones kept); 2 when nothing was done
because the command line, a file, the configuration, the database or the
thing named is wrong.
"""

from __future__ import annotations

EXIT_USAGE = 2
