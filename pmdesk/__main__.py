from pmdesk.start import main

main()
