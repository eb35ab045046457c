from pmdesk.cli import main

main()
